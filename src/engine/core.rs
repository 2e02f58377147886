//! The engine's sans-IO core. Every decision is made here and every decision not to run leaves
//! a run row with a reason; the actor only carries out the [`Effect`]s.
//!
//! - A scheduled or manual trigger starts a **cycle**: the job and every job reachable from it
//!   through `after:` edges. A member runs when its `after:` parent finishes; it waits (PENDING)
//!   for its other upstreams in the cycle, runs if they all passed, and is recorded SKIPPED
//!   otherwise. Upstreams outside the cycle gate by their most recent outcome.
//! - Runs are numbered here (the actor asks the store for the last id at start-up), so a run's
//!   row, its work order and its events agree without a round trip.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::template::{self, Outputs};
use super::{Now, Settings, backoff};
use crate::config::{Concurrency, Config, Job, LogLevel, NotifyTarget, OnFailure, Selector};
use crate::exec::attempt::{Attempt, AttemptResult, HcStatus};
use crate::exec::pool::RunEvent;
use crate::schedule::{self, Zone};
use crate::store::{JobStatePatch, NewOutput, NewRun, RunPatch, RunStatus, Trigger};

/// Wall-clock and monotonic progress may differ by this much before it counts as a jump.
pub const JUMP_TOLERANCE: Duration = Duration::seconds(60);
/// How many missed slots of one job are walked when catching up (beyond: the rest are skipped).
const MAX_MISSED_WALK: usize = 1_000_000;

/// What the engine is told.
#[derive(Debug)]
pub enum Input {
    /// Time passed (the deadline of [`Core::next_wakeup`], or the 30 s cap).
    Tick,
    /// A worker started or finished a run.
    Run(RunEvent),
    /// A user's (or the daemon's) command; the output carries the reply.
    Command(Command),
}

/// Commands from the CLI, the API and the daemon.
#[derive(Debug, Clone)]
pub enum Command {
    /// Run a job now (trigger `manual`).
    Run {
        /// The job.
        job: String,
        /// Why (at most 500 characters, checked by the caller).
        reason: Option<String>,
        /// Who: `cli`, `api:<user>`, ...
        by: String,
    },
    /// Run every job carrying a tag.
    RunTag {
        /// The tag.
        tag: String,
        /// Why.
        reason: Option<String>,
        /// Who.
        by: String,
    },
    /// Cancel a run.
    Cancel {
        /// The run.
        run_id: i64,
        /// Who.
        by: String,
    },
    /// Pause (true) or resume a job.
    Pause {
        /// The job.
        job: String,
        /// Pause or resume.
        paused: bool,
    },
    /// Pause (true) or resume every job carrying a tag.
    PauseTag {
        /// The tag.
        tag: String,
        /// Pause or resume.
        paused: bool,
    },
    /// Run a job's last FAILED run again, as the next attempt of its cycle.
    Retry {
        /// The job.
        job: String,
        /// Its last completed run, as the database has it.
        of: RetryOf,
        /// Why (default: `retry of run N`).
        reason: Option<String>,
        /// Who.
        by: String,
    },
    /// Skip the job's pending runs, or if none, its next scheduled slot.
    Skip {
        /// The job.
        job: String,
    },
    /// Every job with its schedule and state.
    Status,
    /// The configuration in force.
    Config,
    /// Whether a cycle still has runs to come (its members not all settled).
    CycleOpen(String),
    /// Swap in a new, already validated configuration.
    Reload(Arc<Config>),
    /// Stop firing, drain, then stop what is left (`force`: stop it all now).
    Shutdown {
        /// Kill every run at once.
        force: bool,
    },
}

/// The answer to a [`Command`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Runs created by a run command: each with its id, status (PENDING or SKIPPED) and reason.
    Runs(Vec<Created>),
    /// The jobs, by name.
    Jobs(Vec<JobView>),
    /// The configuration in force.
    Config(InForce),
    /// Whether the cycle asked about is still open.
    Open(bool),
    /// Done; a message for people.
    Done(String),
    /// Refused; a message for people.
    Error(String),
    /// Refused because of the job's state (a retry of a run that did not fail, or while one
    /// is running); a message for people.
    Conflict(String),
}

/// The configuration in force (equal only to itself).
#[derive(Debug, Clone)]
pub struct InForce(pub Arc<Config>);

impl PartialEq for InForce {
    fn eq(&self, other: &InForce) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The run a [`Command::Retry`] retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOf {
    /// Its id.
    pub run_id: i64,
    /// Its status (only FAILED can be retried).
    pub status: RunStatus,
    /// Its attempt.
    pub attempt: u32,
    /// Its cycle.
    pub cycle_id: Option<String>,
}

/// A job as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    /// The job.
    pub job: Arc<Job>,
    /// Its next fire (with jitter), if it has one.
    pub next_run: Option<OffsetDateTime>,
    /// Paused by itself or by a tag.
    pub paused: bool,
    /// Its next slot will be skipped.
    pub skip_next: bool,
    /// Its unfinished runs: (id, status) with PENDING, RUNNING or RETRYING.
    pub runs: Vec<(i64, RunStatus)>,
}

/// One run a command created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The job.
    pub job: String,
    /// The run.
    pub run_id: i64,
    /// PENDING (it will run) or SKIPPED.
    pub status: RunStatus,
    /// Why it was skipped, or what it waits for.
    pub reason: Option<String>,
}

/// Something the actor carries out.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Insert a run row.
    CreateRun(NewRun),
    /// Change a run row.
    UpdateRun {
        /// The run.
        id: i64,
        /// What changes.
        patch: RunPatch,
    },
    /// Change a job's state row.
    JobState {
        /// The job.
        job: String,
        /// What changes.
        patch: JobStatePatch,
    },
    /// Persist a tag's pause.
    PauseTag {
        /// The tag.
        tag: String,
        /// Paused or resumed.
        paused: bool,
    },
    /// Store captured outputs.
    Outputs {
        /// The run.
        run_id: i64,
        /// Its job.
        job: String,
        /// Its cycle.
        cycle_id: String,
        /// The values.
        outputs: Vec<NewOutput>,
    },
    /// Hand an attempt to the worker pool (its row is already created).
    Dispatch(Attempt),
    /// Stop a running attempt: SIGTERM, the grace, SIGKILL (`now`: SIGKILL at once).
    Cancel {
        /// The run.
        run_id: i64,
        /// Without the grace.
        now: bool,
    },
    /// Send a notification.
    Notify(Notice),
    /// A line for the daemon's log, at a level.
    Log(LogLevel, String),
}

/// Which notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The last attempt failed.
    Failure,
    /// A run succeeded.
    Success,
    /// A run passed its SLA (or its healthcheck warned).
    SlaBreach,
    /// An attempt failed and another follows.
    Retry,
    /// A job whose last run failed succeeded: PagerDuty incidents of its `on_failure` channel
    /// are resolved (other providers ignore it).
    Resolve,
    /// A run's processes had to be killed after the grace (huskyd.yaml `alerts.on_forced_kill`).
    ForcedKill,
}

impl Event {
    /// The name used in `alerts.event`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Failure => "on_failure",
            Event::Success => "on_success",
            Event::SlaBreach => "on_sla_breach",
            Event::Retry => "on_retry",
            Event::Resolve => "resolve",
            Event::ForcedKill => "on_forced_kill",
        }
    }
}

/// A notification to deliver.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Why.
    pub event: Event,
    /// Where and what.
    pub target: NotifyTarget,
    /// The job.
    pub job: Arc<Job>,
    /// The run.
    pub run_id: i64,
    /// Its attempt (for a retry, the attempt to come).
    pub attempt: u32,
    /// Its status at the time.
    pub status: RunStatus,
    /// Why it is in its status (an exit code, a timeout, the SLA), if known.
    pub reason: Option<String>,
    /// The reason given when it was triggered (`husky run --reason`), if any.
    pub run_reason: Option<String>,
    /// What started it.
    pub trigger: Trigger,
    /// Its dependency cycle.
    pub cycle_id: String,
    /// Whether it passed its SLA.
    pub sla_breached: bool,
    /// How it ended, when it has (exit code, duration, end time).
    pub ended: Option<Ended>,
    /// When the engine raised it.
    pub at: OffsetDateTime,
    /// Notices of this event for this job held back by its `cooldown` since the last one sent.
    pub suppressed: u32,
}

/// How an attempt ended, for a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Wall-clock duration.
    pub duration: std::time::Duration,
    /// When it ended.
    pub at: OffsetDateTime,
}

/// huskyd.yaml `alerts`: channels of events beyond a job's own `notify`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonAlerts {
    /// For an SLA breach of a job with neither `on_sla_breach` nor `on_failure`.
    pub on_sla_breach: Vec<String>,
    /// When a run's processes had to be killed.
    pub on_forced_kill: Vec<String>,
}

/// What a notice says of its run beyond the run itself.
#[derive(Debug, Clone)]
struct Said {
    status: RunStatus,
    reason: Option<String>,
    ended: Option<Ended>,
    at: OffsetDateTime,
}

/// A huskyd.yaml `alerts` channel as a target: the default message, no logs.
fn daemon_target(channel: String) -> NotifyTarget {
    NotifyTarget {
        channel,
        message: None,
        attach_logs: crate::config::AttachLogs::None,
        only_after_failure: false,
        cooldown: None,
    }
}

/// What one input produced.
#[derive(Debug, Default)]
pub struct Output {
    /// The reply to a command.
    pub reply: Option<Reply>,
    /// What to carry out, in order.
    pub effects: Vec<Effect>,
}

/// State restored from the store at start-up.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The highest run id ever given.
    pub last_run_id: i64,
    /// Per job: persisted next fire, pause, skip of the next slot, and latest outcome.
    pub jobs: HashMap<String, RestoredJob>,
    /// Paused tags.
    pub paused_tags: BTreeSet<String>,
    /// Unfinished runs (PENDING, RUNNING, RETRYING) in id order; RUNNING ones are no longer
    /// alive (the actor killed what was).
    pub live: Vec<RestoredRun>,
    /// Every run of the cycles that have unfinished runs, with their outputs.
    pub cycles: HashMap<String, RestoredCycle>,
}

/// A job's persisted state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoredJob {
    /// `job_state.next_run`.
    pub next_run: Option<OffsetDateTime>,
    /// Paused.
    pub paused: bool,
    /// The next slot is to be skipped.
    pub skip_next: bool,
    /// Status of its most recent completed run.
    pub last_outcome: Option<RunStatus>,
}

/// An unfinished run row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredRun {
    /// Its id.
    pub id: i64,
    /// Its job.
    pub job: String,
    /// PENDING, RUNNING or RETRYING.
    pub status: RunStatus,
    /// Its attempt.
    pub attempt: u32,
    /// What started it.
    pub trigger: Trigger,
    /// Who.
    pub triggered_by: String,
    /// Why.
    pub reason: Option<String>,
    /// Its cycle.
    pub cycle_id: Option<String>,
    /// When a RETRYING row's next attempt is due.
    pub retry_at: Option<OffsetDateTime>,
    /// A RUNNING row's process (group leader) id.
    pub pid: Option<u32>,
    /// And its start time as the OS reported it.
    pub pid_start: Option<i64>,
}

/// The finished runs and outputs of a cycle with unfinished runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoredCycle {
    /// The job that started it.
    pub root: Option<String>,
    /// Final statuses by job (the latest attempt's).
    pub done: BTreeMap<String, RunStatus>,
    /// Captured values.
    pub outputs: Outputs,
}

/// Where a live run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for upstreams of its cycle.
    Waiting,
    /// Ready, waiting for a global slot (or for the run it replaces to end).
    Queued,
    /// Handed to the pool.
    Dispatched,
    /// Its process runs.
    Running,
    /// Failed; the next attempt is due then.
    RetryWait(OffsetDateTime),
}

#[derive(Debug, Clone)]
struct Run {
    id: i64,
    job: Arc<Job>,
    attempt: u32,
    trigger: Trigger,
    triggered_by: String,
    reason: Option<String>,
    cycle: String,
    state: State,
    sla_at: Option<OffsetDateTime>,
    sla_breached: bool,
    cancel_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Untriggered,
    Live(i64),
    /// Final: its status and whether dependents may proceed.
    Done(RunStatus, bool),
}

#[derive(Debug, Clone, Default)]
struct Cycle {
    members: BTreeMap<String, Member>,
    outputs: Outputs,
    stopped_by: Option<String>,
}

#[derive(Debug, Clone)]
struct JobSlot {
    job: Arc<Job>,
    zone: &'static Zone,
    /// The next nominal slot.
    next: Option<OffsetDateTime>,
    /// When it fires (the slot plus jitter).
    due: Option<OffsetDateTime>,
    /// The last slot that fired (backward clock jumps never fire it again).
    last_slot: Option<OffsetDateTime>,
    paused: bool,
    skip_next: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Fire(String),
    Retry(i64),
    Sla(i64),
    ShutdownKill,
}

/// The engine's state machine.
#[derive(Debug)]
pub struct Core {
    config: Arc<Config>,
    settings: Settings,
    jobs: BTreeMap<String, JobSlot>,
    /// `after:` children by parent.
    children: HashMap<String, Vec<String>>,
    runs: BTreeMap<i64, Run>,
    cycles: HashMap<String, Cycle>,
    queue: VecDeque<i64>,
    timers: BTreeSet<(OffsetDateTime, Timer)>,
    /// Latest outcome per job: its status and whether dependents may proceed.
    outcomes: HashMap<String, (RunStatus, bool)>,
    /// Paused tag selectors, by their canonical text.
    paused_tags: BTreeMap<String, Selector>,
    last_id: i64,
    active: usize,
    rng: fastrand::Rng,
    last_now: Option<Now>,
    stopping: bool,
    alerts: DaemonAlerts,
    /// Per job and event with a `cooldown`: when the last notice went out, and how many were
    /// held back since.
    cooldowns: HashMap<(String, Event), (OffsetDateTime, u32)>,
    out: Vec<Effect>,
}

impl Core {
    /// An engine for `config` with state restored from the store. `seed` drives the jitter and
    /// cycle ids (tests replay it).
    pub fn new(config: Arc<Config>, settings: Settings, restored: &Restored, seed: u64) -> Core {
        let mut core = Core {
            config,
            settings,
            jobs: BTreeMap::new(),
            children: HashMap::new(),
            runs: BTreeMap::new(),
            cycles: HashMap::new(),
            queue: VecDeque::new(),
            timers: BTreeSet::new(),
            outcomes: HashMap::new(),
            paused_tags: restored
                .paused_tags
                .iter()
                .filter_map(|t| Selector::parse(t).ok().map(|s| (s.to_string(), s)))
                .collect(),
            last_id: restored.last_run_id,
            active: 0,
            rng: fastrand::Rng::with_seed(seed),
            last_now: None,
            stopping: false,
            alerts: DaemonAlerts::default(),
            cooldowns: HashMap::new(),
            out: Vec::new(),
        };
        let config = core.config.clone();
        core.install(&config);
        for (name, r) in &restored.jobs {
            if let Some(slot) = core.jobs.get_mut(name) {
                slot.paused = r.paused;
                slot.skip_next = r.skip_next;
                slot.next = r.next_run;
            }
            if let Some(status) = r.last_outcome {
                let passes = core.passes(name, status);
                core.outcomes.insert(name.clone(), (status, passes));
            }
        }
        core
    }

    /// Sets huskyd.yaml's `alerts` channels.
    pub fn set_alerts(&mut self, alerts: DaemonAlerts) {
        self.alerts = alerts;
    }

    fn install(&mut self, config: &Config) {
        self.children.clear();
        for job in &config.jobs {
            if let Some(parent) = job.frequency.after() {
                self.children.entry(parent.to_owned()).or_default().push(job.name.clone());
            }
        }
        let mut jobs = BTreeMap::new();
        for job in &config.jobs {
            let zone = schedule::job_zone(job.timezone.as_deref());
            let old = self.jobs.remove(&job.name);
            let same_schedule = old.as_ref().is_some_and(|o| {
                o.job.frequency == job.frequency
                    && o.job.time == job.time
                    && std::ptr::eq(o.zone, zone)
            });
            let slot = match old {
                Some(o) if same_schedule => JobSlot { job: Arc::new(job.clone()), ..o },
                Some(o) => {
                    if let Some(due) = o.due {
                        self.timers.remove(&(due, Timer::Fire(job.name.clone())));
                    }
                    JobSlot {
                        job: Arc::new(job.clone()),
                        zone,
                        next: None,
                        due: None,
                        last_slot: None,
                        ..o
                    }
                }
                None => JobSlot {
                    job: Arc::new(job.clone()),
                    zone,
                    next: None,
                    due: None,
                    last_slot: None,
                    paused: false,
                    skip_next: false,
                },
            };
            jobs.insert(job.name.clone(), slot);
        }
        // Removed jobs: their timers go; their live runs finish normally.
        for name in self.jobs.keys() {
            self.out.push(Effect::Log(
                LogLevel::Info,
                format!("job {name} was removed from the configuration"),
            ));
        }
        self.timers.retain(|(_, t)| !matches!(t, Timer::Fire(n) if !jobs.contains_key(n)));
        self.jobs = jobs;
    }

    /// The configuration in force.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Start-up: arms every job's schedule (catching up what was missed while the daemon was
    /// down) and recovers the unfinished runs of `restored`.
    pub fn start(&mut self, restored: &Restored, now: Now) -> Output {
        self.last_now = Some(now);
        for (id, c) in &restored.cycles {
            let mut cycle = Cycle { outputs: c.outputs.clone(), ..Cycle::default() };
            if let Some(root) = &c.root {
                for m in self.closure(root) {
                    cycle.members.insert(m, Member::Untriggered);
                }
            }
            for (job, status) in &c.done {
                let passes = self.passes(job, *status);
                cycle.members.insert(job.clone(), Member::Done(*status, passes));
            }
            self.cycles.insert(id.clone(), cycle);
        }
        for r in &restored.live {
            self.recover(r, now.utc);
        }
        let names: Vec<String> = self.jobs.keys().cloned().collect();
        for name in names {
            self.arm(&name, now.utc, true);
        }
        self.pump();
        self.output(None)
    }

    /// Handles one input at `now`.
    pub fn handle(&mut self, input: Input, now: Now) -> Output {
        let jump = self.observe(now);
        match jump {
            Some(skew) if skew > Duration::ZERO => self.jumped_forward(skew, now.utc),
            Some(_) => self.jumped_backward(now.utc),
            None => {}
        }
        let reply = match input {
            Input::Tick => None,
            Input::Run(RunEvent::Started { run_id, pid, pid_start, at }) => {
                self.started(run_id, pid, pid_start, at);
                None
            }
            Input::Run(RunEvent::Finished { run_id, result, at }) => {
                self.finished(run_id, &result, at);
                None
            }
            Input::Command(c) => Some(self.command(c, now.utc)),
        };
        self.expire(now.utc);
        self.pump();
        self.output(reply)
    }

    /// When the engine must next be woken (besides inputs), if ever.
    pub fn next_wakeup(&self) -> Option<OffsetDateTime> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// A shutdown has begun (no new fires).
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Shutting down and nothing runs any more: the actor may stop.
    pub fn is_done(&self) -> bool {
        self.stopping && self.active == 0
    }

    /// Runs handed to workers and not finished.
    pub fn active(&self) -> usize {
        self.active
    }

    /// The next fire of a job, if it has one.
    pub fn next_fire(&self, job: &str) -> Option<OffsetDateTime> {
        self.jobs.get(job).and_then(|s| s.due)
    }

    /// Whether a job is paused (itself or by one of its tags).
    pub fn is_paused(&self, job: &str) -> bool {
        self.jobs.get(job).is_some_and(|s| self.paused(s))
    }

    fn output(&mut self, reply: Option<Reply>) -> Output {
        Output { reply, effects: std::mem::take(&mut self.out) }
    }

    fn paused(&self, slot: &JobSlot) -> bool {
        slot.paused || self.paused_tags.values().any(|s| s.matches(&slot.job.tags))
    }

    fn passes(&self, job: &str, status: RunStatus) -> bool {
        status == RunStatus::Success
            || (status == RunStatus::Failed
                && self.jobs.get(job).is_some_and(|s| s.job.on_failure == OnFailure::Ignore))
    }

    /// The job and every job reachable from it through `after:` edges.
    fn closure(&self, root: &str) -> Vec<String> {
        let mut found = vec![root.to_owned()];
        let mut i = 0;
        while i < found.len() {
            if let Some(children) = self.children.get(&found[i]) {
                for c in children {
                    if !found.contains(c) {
                        found.push(c.clone());
                    }
                }
            }
            i += 1;
        }
        found
    }

    fn new_id(&mut self) -> i64 {
        self.last_id += 1;
        self.last_id
    }

    fn new_cycle(&mut self, root: &str) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes);
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid().to_string();
        self.open_cycle(&id, root);
        id
    }

    /// Opens cycle `id` rooted at `root`: the root and its `after:` closure, none triggered.
    fn open_cycle(&mut self, id: &str, root: &str) {
        let mut cycle = Cycle::default();
        for m in self.closure(root) {
            cycle.members.insert(m, Member::Untriggered);
        }
        self.cycles.insert(id.to_owned(), cycle);
    }

    // ---- time -------------------------------------------------------------------------------

    /// Compares wall-clock and monotonic progress since the last turn: `Some(skew)` when they
    /// differ by more than [`JUMP_TOLERANCE`] (positive: the wall clock jumped ahead, or the
    /// host slept).
    fn observe(&mut self, now: Now) -> Option<Duration> {
        let last = self.last_now.replace(now)?;
        let wall = now.utc - last.utc;
        let mono = Duration::try_from(now.mono.saturating_duration_since(last.mono))
            .unwrap_or(Duration::MAX);
        let skew = wall - mono;
        (skew.abs() > JUMP_TOLERANCE).then_some(skew)
    }

    fn jumped_forward(&mut self, skew: Duration, now: OffsetDateTime) {
        self.out.push(Effect::Log(
            LogLevel::Warn,
            format!(
                "the wall clock moved {} s further than the monotonic clock (clock change or \
                 suspend): missed fires are caught up or skipped",
                skew.whole_seconds()
            ),
        ));
        let names: Vec<String> = self.jobs.keys().cloned().collect();
        for name in names {
            if self.jobs[&name].due.is_some_and(|d| d <= now) {
                self.arm(&name, now, true);
            }
        }
    }

    fn jumped_backward(&mut self, now: OffsetDateTime) {
        self.out.push(Effect::Log(
            LogLevel::Warn,
            "the wall clock went back: schedules are recomputed (calendar slots that already \
             fired do not fire again)"
                .into(),
        ));
        let names: Vec<String> = self.jobs.keys().cloned().collect();
        for name in names {
            let slot = &self.jobs[&name];
            let calendar = slot.job.time.is_some();
            let from = match slot.last_slot {
                Some(last) if calendar && last > now => last,
                _ => now,
            };
            self.schedule_from(&name, from);
        }
    }

    /// Arms a job's next fire. With `missed`, a persisted (or overdue) slot at or before `now`
    /// counts as missed: a `catchup` job runs once for it if it lies within the window, other
    /// jobs skip it (logged).
    fn arm(&mut self, name: &str, now: OffsetDateTime, missed: bool) {
        let Some(slot) = self.jobs.get(name) else { return };
        let pending = slot.next;
        if let (true, Some(first)) = (missed, pending)
            && first <= now
        {
            let (count, last) = self.walk_missed(name, first, now);
            let job = slot.job.clone();
            let window = self.settings.catchup_window;
            let within = window <= Duration::ZERO || now - last <= window;
            if job.catchup && within && !self.paused(slot) && !self.stopping {
                self.out.push(Effect::Log(
                    LogLevel::Info,
                    format!("{name}: {count} missed fire(s), the last at {last}; catching up once"),
                ));
                let cycle = self.new_cycle(name);
                let reason = Some(format!("missed fire at {}", crate::store::ts(last)));
                self.trigger(&job, Trigger::Catchup, "scheduler".into(), reason, &cycle, now);
            } else {
                let why = if !job.catchup {
                    "catchup is off"
                } else if !within {
                    "outside scheduler.catchup_window"
                } else {
                    "paused or shutting down"
                };
                self.out.push(Effect::Log(
                    LogLevel::Warn,
                    format!("{name}: skipped {count} missed fire(s), the last at {last} ({why})"),
                ));
            }
            if let Some(s) = self.jobs.get_mut(name) {
                s.last_slot = Some(last);
            }
            self.schedule_from(name, now);
        } else if let Some(next) = pending
            && next > now
            && self.is_slot(name, next)
        {
            self.set_fire(name, Some(next));
        } else {
            self.schedule_from(name, now);
        }
    }

    /// Whether `at` is one of the job's slots (a persisted next fire may belong to a schedule
    /// that changed while the daemon was down).
    fn is_slot(&self, name: &str, at: OffsetDateTime) -> bool {
        let slot = &self.jobs[name];
        schedule::next_fire(&slot.job.frequency, slot.job.time, slot.zone, at - Duration::SECOND)
            .is_some_and(|f| f.at == at)
    }

    /// Counts the slots from `first` up to `now` and returns the last of them.
    fn walk_missed(
        &self,
        name: &str,
        first: OffsetDateTime,
        now: OffsetDateTime,
    ) -> (usize, OffsetDateTime) {
        let slot = &self.jobs[name];
        let (mut count, mut last) = (1, first);
        while count < MAX_MISSED_WALK {
            match schedule::next_fire(&slot.job.frequency, slot.job.time, slot.zone, last) {
                Some(f) if f.at <= now => {
                    count += 1;
                    last = f.at;
                }
                _ => break,
            }
        }
        (count, last)
    }

    /// The first slot after `after` becomes the next fire.
    fn schedule_from(&mut self, name: &str, after: OffsetDateTime) {
        let Some(slot) = self.jobs.get(name) else { return };
        let next =
            schedule::next_fire(&slot.job.frequency, slot.job.time, slot.zone, after).map(|f| f.at);
        self.set_fire(name, next);
    }

    fn set_fire(&mut self, name: &str, next: Option<OffsetDateTime>) {
        let jitter = self.settings.schedule_jitter;
        let extra = if jitter > Duration::ZERO {
            Duration::seconds_f64(jitter.as_seconds_f64() * self.rng.f64())
        } else {
            Duration::ZERO
        };
        let Some(slot) = self.jobs.get_mut(name) else { return };
        if let Some(due) = slot.due.take() {
            self.timers.remove(&(due, Timer::Fire(name.to_owned())));
        }
        let changed = slot.next != next;
        slot.next = next;
        slot.due = next.map(|n| n + extra);
        if let Some(due) = slot.due {
            self.timers.insert((due, Timer::Fire(name.to_owned())));
        }
        if changed {
            self.out.push(Effect::JobState {
                job: name.to_owned(),
                patch: JobStatePatch { next_run: Some(next), ..JobStatePatch::default() },
            });
        }
    }

    /// Handles every timer due at `now`.
    fn expire(&mut self, now: OffsetDateTime) {
        while let Some((at, _)) = self.timers.first() {
            if *at > now {
                break;
            }
            let Some((_, timer)) = self.timers.pop_first() else { break };
            match timer {
                Timer::Fire(name) => self.fire(&name, now),
                Timer::Retry(id) => self.retry_due(id, now),
                Timer::Sla(id) => self.sla_due(id, now),
                Timer::ShutdownKill => {
                    let running: Vec<i64> = self.running_ids();
                    for id in running {
                        self.cancel_run(id, "daemon shutdown", true, now);
                    }
                }
            }
        }
    }

    fn fire(&mut self, name: &str, now: OffsetDateTime) {
        let Some(slot) = self.jobs.get_mut(name) else { return };
        slot.due = None;
        let (job, at) = (slot.job.clone(), slot.next);
        slot.last_slot = at;
        let skip = std::mem::take(&mut slot.skip_next);
        let paused = self.paused(&self.jobs[name]);
        if !self.stopping && !paused {
            let cycle = self.new_cycle(name);
            if skip {
                self.out.push(Effect::JobState {
                    job: name.to_owned(),
                    patch: JobStatePatch { skip_next: Some(false), ..JobStatePatch::default() },
                });
                let id = self.record(&job, Trigger::Schedule, "scheduler", None, &cycle, 1, now);
                self.skip_row(id, &job, &cycle, "skipped by a user (next slot)", now);
            } else {
                self.trigger(&job, Trigger::Schedule, "scheduler".into(), None, &cycle, now);
            }
        } else if skip && let Some(s) = self.jobs.get_mut(name) {
            s.skip_next = true; // not consumed by a slot that did not fire
        }
        let after = at.map_or(now, |a| a.max(now));
        self.schedule_from(name, after);
    }

    // ---- triggering -------------------------------------------------------------------------

    /// Writes a PENDING row for a new run and returns its id.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        job: &Job,
        trigger: Trigger,
        by: &str,
        reason: Option<String>,
        cycle: &str,
        attempt: u32,
        now: OffsetDateTime,
    ) -> i64 {
        let id = self.new_id();
        self.out.push(Effect::CreateRun(NewRun {
            id: Some(id),
            job_name: job.name.clone(),
            status: RunStatus::Pending,
            attempt,
            trigger,
            triggered_by: by.to_owned(),
            reason,
            cycle_id: Some(cycle.to_owned()),
            created_at: now,
            started_at: None,
            status_reason: None,
            finished_at: None,
        }));
        self.out.push(Effect::JobState {
            job: job.name.clone(),
            patch: JobStatePatch {
                last_run: Some((id, RunStatus::Pending)),
                ..JobStatePatch::default()
            },
        });
        id
    }

    /// Marks a freshly recorded (or not yet started) run SKIPPED and settles its cycle.
    fn skip_row(&mut self, id: i64, job: &Job, cycle: &str, why: &str, now: OffsetDateTime) {
        self.out
            .push(Effect::Log(LogLevel::Info, format!("{}: run {id} SKIPPED: {why}", job.name)));
        self.out.push(Effect::UpdateRun {
            id,
            patch: RunPatch {
                status: Some(RunStatus::Skipped),
                status_reason: Some(why.to_owned()),
                finished_at: Some(now),
                ..RunPatch::default()
            },
        });
        self.out.push(Effect::JobState {
            job: job.name.clone(),
            patch: JobStatePatch {
                last_run: Some((id, RunStatus::Skipped)),
                ..JobStatePatch::default()
            },
        });
        self.settle(&job.name, cycle, RunStatus::Skipped, false, now);
    }

    /// A job is triggered in a cycle: record the run and decide whether it waits, queues, or is
    /// skipped (and why). Returns what was created.
    fn trigger(
        &mut self,
        job: &Arc<Job>,
        trigger: Trigger,
        by: String,
        reason: Option<String>,
        cycle: &str,
        now: OffsetDateTime,
    ) -> Created {
        self.start_run(job, trigger, by, reason, cycle, 1, now)
    }

    /// [`Core::trigger`] for a given attempt.
    #[allow(clippy::too_many_arguments)]
    fn start_run(
        &mut self,
        job: &Arc<Job>,
        trigger: Trigger,
        by: String,
        reason: Option<String>,
        cycle: &str,
        attempt: u32,
        now: OffsetDateTime,
    ) -> Created {
        let id = self.record(job, trigger, &by, reason.clone(), cycle, attempt, now);
        let created =
            |status, reason| Created { job: job.name.clone(), run_id: id, status, reason };
        let stopped = self.cycles.get(cycle).and_then(|c| c.stopped_by.clone());
        let mut skip: Option<String> = stopped.map(|by| format!("pipeline stopped by {by}"));
        if skip.is_none()
            && trigger == Trigger::Dependency
            && self.jobs.get(&job.name).is_some_and(|s| self.paused(s))
        {
            skip = Some("paused".into());
        }
        let others: Vec<i64> =
            self.runs.values().filter(|r| r.job.name == job.name).map(|r| r.id).collect();
        if skip.is_none() && !others.is_empty() {
            match job.concurrency {
                Concurrency::Allow => {}
                Concurrency::Forbid => {
                    skip =
                        Some(format!("concurrency: forbid (run {} is still running)", others[0]));
                }
                Concurrency::Replace => {
                    for other in others {
                        self.cancel_run(other, &format!("replaced by run {id}"), false, now);
                    }
                }
            }
        }
        let mut waits = false;
        if skip.is_none() {
            match self.gate(job, cycle) {
                Gate::Pass => {}
                Gate::Wait => waits = true,
                Gate::Fail(why) => skip = Some(why),
            }
        }
        if let Some(why) = skip {
            if let Some(c) = self.cycles.get_mut(cycle) {
                c.members.insert(job.name.clone(), Member::Live(id));
            }
            self.skip_row(id, job, cycle, &why, now);
            return created(RunStatus::Skipped, Some(why));
        }
        let state = if waits { State::Waiting } else { State::Queued };
        self.runs.insert(
            id,
            Run {
                id,
                job: job.clone(),
                attempt,
                trigger,
                triggered_by: by,
                reason,
                cycle: cycle.to_owned(),
                state,
                sla_at: None,
                sla_breached: false,
                cancel_reason: None,
            },
        );
        if let Some(c) = self.cycles.get_mut(cycle) {
            c.members.insert(job.name.clone(), Member::Live(id));
        }
        if waits {
            created(RunStatus::Pending, Some("waiting for upstream jobs of its cycle".into()))
        } else {
            self.queue.push_back(id);
            created(RunStatus::Pending, None)
        }
    }

    /// Whether a job's upstreams let it run in `cycle`.
    fn gate(&self, job: &Job, cycle: &str) -> Gate {
        let members = self.cycles.get(cycle).map(|c| &c.members);
        let mut wait = false;
        for up in job.upstreams() {
            match members.and_then(|m| m.get(up)) {
                Some(Member::Done(_, true)) => {}
                Some(Member::Done(status, false)) => {
                    return Gate::Fail(format!("upstream {up} {status}"));
                }
                Some(Member::Untriggered | Member::Live(_)) => wait = true,
                None => match self.outcomes.get(up) {
                    Some((_, true)) => {}
                    Some((status, false)) => {
                        return Gate::Fail(format!("upstream {up} {status}"));
                    }
                    None => return Gate::Fail(format!("upstream {up} has not run yet")),
                },
            }
        }
        if wait { Gate::Wait } else { Gate::Pass }
    }

    /// A member of `cycle` reached a final status: trigger or skip its `after:` children and
    /// release or skip runs waiting for it.
    fn settle(
        &mut self,
        job: &str,
        cycle: &str,
        status: RunStatus,
        passes: bool,
        now: OffsetDateTime,
    ) {
        let Some(c) = self.cycles.get_mut(cycle) else { return };
        if !c.members.contains_key(job) {
            return;
        }
        c.members.insert(job.to_owned(), Member::Done(status, passes));
        let children: Vec<String> = self
            .children
            .get(job)
            .map(|v| {
                v.iter()
                    .filter(|ch| matches!(c.members.get(*ch), Some(Member::Untriggered)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for child in children {
            let Some(slot) = self.jobs.get(&child) else { continue };
            let child_job = slot.job.clone();
            if passes {
                self.trigger(
                    &child_job,
                    Trigger::Dependency,
                    "dependency".into(),
                    Some(format!("after:{job}")),
                    cycle,
                    now,
                );
            } else {
                let id = self.record(
                    &child_job,
                    Trigger::Dependency,
                    "dependency",
                    Some(format!("after:{job}")),
                    cycle,
                    1,
                    now,
                );
                if let Some(c) = self.cycles.get_mut(cycle) {
                    c.members.insert(child.clone(), Member::Live(id));
                }
                self.skip_row(id, &child_job, cycle, &format!("upstream {job} {status}"), now);
            }
        }
        // Runs of this cycle waiting for upstreams.
        let waiting: Vec<i64> = self
            .runs
            .values()
            .filter(|r| r.cycle == cycle && r.state == State::Waiting)
            .map(|r| r.id)
            .collect();
        for id in waiting {
            let Some(run) = self.runs.get(&id) else { continue };
            let job = run.job.clone();
            match self.gate(&job, cycle) {
                Gate::Wait => {}
                Gate::Pass => {
                    if let Some(r) = self.runs.get_mut(&id) {
                        r.state = State::Queued;
                    }
                    self.queue.push_back(id);
                }
                Gate::Fail(why) => {
                    self.runs.remove(&id);
                    self.skip_row(id, &job, cycle, &why, now);
                }
            }
        }
        let over = self
            .cycles
            .get(cycle)
            .is_some_and(|c| c.members.values().all(|m| matches!(m, Member::Done(..))));
        if over {
            self.cycles.remove(cycle);
        }
    }

    // ---- dispatch ---------------------------------------------------------------------------

    /// Dispatches queued runs while global slots are free (FIFO; a run waiting for the run it
    /// replaces to end lets later ones pass).
    fn pump(&mut self) {
        if self.stopping {
            return;
        }
        let max = self.settings.max_concurrent;
        let mut kept = VecDeque::new();
        while max == 0 || self.active < max {
            let Some(id) = self.queue.pop_front() else { break };
            let Some(run) = self.runs.get(&id) else { continue };
            if run.state != State::Queued {
                continue;
            }
            let replacing = run.job.concurrency == Concurrency::Replace
                && self.runs.values().any(|r| {
                    r.job.name == run.job.name
                        && r.id != id
                        && matches!(r.state, State::Dispatched | State::Running)
                });
            if replacing {
                kept.push_back(id);
                continue;
            }
            self.dispatch(id);
        }
        while let Some(id) = kept.pop_back() {
            self.queue.push_front(id);
        }
    }

    fn dispatch(&mut self, id: i64) {
        let Some(run) = self.runs.get(&id) else { return };
        let job = run.job.clone();
        let outputs = self.cycles.get(&run.cycle).map(|c| c.outputs.clone()).unwrap_or_default();
        let rendered = render_job(&job, &outputs);
        let now = self.last_now.map_or(OffsetDateTime::UNIX_EPOCH, |n| n.utc);
        let (command, env) = match rendered {
            Ok(v) => v,
            Err(m) => {
                let why = format!(
                    "missing output {{{{ outputs.{}.{} }}}} in cycle \"{}\"",
                    m.job, m.var, run.cycle
                );
                let run = run.clone();
                self.runs.remove(&id);
                self.out.push(Effect::UpdateRun {
                    id,
                    patch: RunPatch {
                        status: Some(RunStatus::Failed),
                        status_reason: Some(why.clone()),
                        finished_at: Some(now),
                        ..RunPatch::default()
                    },
                });
                let said =
                    Said { status: RunStatus::Failed, reason: Some(why), ended: None, at: now };
                self.fail_final(&run, said);
                return;
            }
        };
        let Some(run) = self.runs.get_mut(&id) else { return };
        run.state = State::Dispatched;
        self.active += 1;
        self.out.push(Effect::Dispatch(Attempt {
            run_id: id,
            attempt: run.attempt,
            job: run.job.clone(),
            cycle_id: run.cycle.clone(),
            trigger: run.trigger,
            env,
            command,
        }));
    }

    fn started(&mut self, id: i64, pid: u32, pid_start: Option<i64>, at: OffsetDateTime) {
        let Some(run) = self.runs.get_mut(&id) else { return };
        run.state = State::Running;
        run.sla_at = run.job.sla.filter(|d| *d > Duration::ZERO).map(|d| at + d);
        if let Some(sla) = run.sla_at {
            self.timers.insert((sla, Timer::Sla(id)));
        }
        self.out.push(Effect::Log(
            LogLevel::Info,
            format!(
                "{}: run {id} started (attempt {}, {}, pid {pid})",
                run.job.name,
                run.attempt,
                run.trigger.as_str()
            ),
        ));
        self.out.push(Effect::UpdateRun {
            id,
            patch: RunPatch {
                status: Some(RunStatus::Running),
                started_at: Some(at),
                pid: Some(pid),
                pid_start,
                ..RunPatch::default()
            },
        });
    }

    fn sla_due(&mut self, id: i64, now: OffsetDateTime) {
        let Some(run) = self.runs.get_mut(&id) else { return };
        if run.state != State::Running {
            return;
        }
        run.sla_breached = true;
        let run = run.clone();
        self.out.push(Effect::UpdateRun {
            id,
            patch: RunPatch { sla_breached: Some(true), ..RunPatch::default() },
        });
        self.out.push(Effect::Log(
            LogLevel::Warn,
            format!("{}: run {id} passed its SLA", run.job.name),
        ));
        let said = Said {
            status: RunStatus::Running,
            reason: Some("SLA breached".into()),
            ended: None,
            at: now,
        };
        self.notify_breach(&run, said);
    }

    /// An SLA breach (or a healthcheck warning): the job's `on_sla_breach`, else its
    /// `on_failure`, else huskyd.yaml's `alerts.on_sla_breach`.
    fn notify_breach(&mut self, run: &Run, said: Said) {
        let n = &run.job.notify;
        match n.on_sla_breach.clone().or_else(|| n.on_failure.clone()) {
            Some(t) => self.notify(Event::SlaBreach, Some(t), run, said),
            None => {
                for channel in self.alerts.on_sla_breach.clone() {
                    self.notify(Event::SlaBreach, Some(daemon_target(channel)), run, said.clone());
                }
            }
        }
    }

    /// Raises a notice of `event` for `run` to `target` (nothing without one), unless the
    /// target's `cooldown` holds it back: then it is counted, and the next one sent says how
    /// many were held back.
    fn notify(&mut self, event: Event, target: Option<NotifyTarget>, run: &Run, said: Said) {
        let Some(target) = target else { return };
        let mut suppressed = 0;
        if let Some(cooldown) = target.cooldown {
            let key = (run.job.name.clone(), event);
            match self.cooldowns.get_mut(&key) {
                Some((last, held)) if said.at < *last + cooldown => {
                    *held += 1;
                    self.out.push(Effect::Log(
                        LogLevel::Info,
                        format!(
                            "{}: {} notification for run {} held back by its cooldown ({} since the last one sent)",
                            run.job.name,
                            event.as_str(),
                            run.id,
                            held
                        ),
                    ));
                    return;
                }
                Some((last, held)) => {
                    suppressed = std::mem::take(held);
                    *last = said.at;
                }
                None => {
                    self.cooldowns.insert(key, (said.at, 0));
                }
            }
        }
        self.out.push(Effect::Notify(Notice {
            event,
            target,
            job: run.job.clone(),
            run_id: run.id,
            // Husky-Go: a retry notice describes the attempt to come.
            attempt: if event == Event::Retry { run.attempt + 1 } else { run.attempt },
            status: said.status,
            reason: said.reason,
            run_reason: run.reason.clone(),
            trigger: run.trigger,
            cycle_id: run.cycle.clone(),
            sla_breached: run.sla_breached,
            ended: said.ended,
            at: said.at,
            suppressed,
        }));
    }

    fn finished(&mut self, id: i64, result: &AttemptResult, at: OffsetDateTime) {
        let Some(run) = self.runs.remove(&id) else { return };
        if matches!(run.state, State::Dispatched | State::Running) {
            self.active = self.active.saturating_sub(1);
        }
        if let Some(sla) = run.sla_at {
            self.timers.remove(&(sla, Timer::Sla(id)));
        }
        let o = &result.outcome;
        let ended = Some(Ended { exit_code: o.exit_code, duration: o.duration, at });
        if o.signal == Some(9) && (o.cancelled || o.timed_out) {
            let why = if o.timed_out { "timed out" } else { "cancelled" };
            let said = Said {
                status: if o.timed_out { RunStatus::Failed } else { RunStatus::Cancelled },
                reason: Some(format!(
                    "{why}; its processes did not stop in the grace and were killed"
                )),
                ended,
                at,
            };
            for channel in self.alerts.on_forced_kill.clone() {
                self.notify(Event::ForcedKill, Some(daemon_target(channel)), &run, said.clone());
            }
        }
        self.out.push(Effect::Log(
            LogLevel::Info,
            format!(
                "{}: run {id} ended {}{} after {:.2} s",
                run.job.name,
                if run.cancel_reason.is_some() { RunStatus::Cancelled } else { result.status },
                run.cancel_reason
                    .as_ref()
                    .or(result.status_reason.as_ref())
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                o.duration.as_secs_f64()
            ),
        ));
        let mut patch = RunPatch {
            finished_at: Some(at),
            exit_code: o.exit_code,
            signal: o.signal,
            duration_ms: i64::try_from(o.duration.as_millis()).ok(),
            cpu_user_ms: Some(o.cpu_user_ms),
            cpu_sys_ms: Some(o.cpu_sys_ms),
            max_rss_kb: Some(o.max_rss_kb),
            hc_status: result.hc.map(|h| h.as_str().to_owned()),
            pid: o.pid,
            ..RunPatch::default()
        };
        if !result.outputs.is_empty() {
            let outputs: Vec<NewOutput> = result
                .outputs
                .iter()
                .map(|(k, v)| NewOutput { var_name: k.clone(), value: v.clone() })
                .collect();
            if let Some(c) = self.cycles.get_mut(&run.cycle) {
                for (k, v) in &result.outputs {
                    c.outputs.insert((run.job.name.clone(), k.clone()), v.clone());
                }
            }
            self.out.push(Effect::Outputs {
                run_id: id,
                job: run.job.name.clone(),
                cycle_id: run.cycle.clone(),
                outputs,
            });
        }
        let cancelled = run.cancel_reason.is_some() || result.status == RunStatus::Cancelled;
        if cancelled {
            let why = run.cancel_reason.clone().unwrap_or_else(|| "cancelled".into());
            patch.status = Some(RunStatus::Cancelled);
            patch.status_reason = Some(why);
            self.out.push(Effect::UpdateRun { id, patch });
            self.last_run(&run, RunStatus::Cancelled);
            self.settle(&run.job.name, &run.cycle, RunStatus::Cancelled, false, at);
            return;
        }
        if result.status == RunStatus::Success {
            patch.status = Some(RunStatus::Success);
            self.out.push(Effect::UpdateRun { id, patch });
            let before = self.outcomes.insert(run.job.name.clone(), (RunStatus::Success, true));
            self.out.push(Effect::JobState {
                job: run.job.name.clone(),
                patch: JobStatePatch {
                    last_success: Some(at),
                    last_run: Some((id, RunStatus::Success)),
                    ..JobStatePatch::default()
                },
            });
            let said = Said { status: RunStatus::Success, reason: None, ended, at };
            let after_failure = before.is_some_and(|(s, _)| s != RunStatus::Success);
            if let Some(t) = run.job.notify.on_success.clone()
                && (!t.only_after_failure || after_failure)
            {
                self.notify(Event::Success, Some(t), &run, said.clone());
            }
            if before.is_some_and(|(s, _)| s == RunStatus::Failed) {
                let target =
                    run.job.notify.on_failure.clone().map(|t| NotifyTarget { cooldown: None, ..t });
                self.notify(Event::Resolve, target, &run, said.clone());
            }
            if result.hc == Some(HcStatus::Warn) {
                let reason = result.warnings.last().cloned();
                self.notify_breach(&run, Said { reason, ..said });
            }
            self.settle(&run.job.name, &run.cycle, RunStatus::Success, true, at);
            return;
        }
        // Failed.
        let why = result.status_reason.clone();
        self.out.push(Effect::JobState {
            job: run.job.name.clone(),
            patch: JobStatePatch { last_failure: Some(at), ..JobStatePatch::default() },
        });
        if run.attempt <= run.job.retries && !self.stopping {
            let delay = backoff::delay(run.job.retry_delay, run.attempt + 1, self.rng.f64());
            let due = at + delay;
            patch.status = Some(RunStatus::Retrying);
            patch.status_reason = why.clone();
            patch.retry_at = Some(due);
            self.out.push(Effect::UpdateRun { id, patch });
            self.last_run(&run, RunStatus::Retrying);
            let target = run.job.notify.on_retry.clone();
            let said = Said { status: RunStatus::Retrying, reason: why, ended, at };
            self.notify(Event::Retry, target, &run, said);
            let mut run = run;
            run.state = State::RetryWait(due);
            self.runs.insert(id, run);
            self.timers.insert((due, Timer::Retry(id)));
            return;
        }
        let status = if run.job.on_failure == OnFailure::Skip {
            RunStatus::Skipped
        } else {
            RunStatus::Failed
        };
        patch.status = Some(status);
        patch.status_reason = why.clone().map(|w| {
            if status == RunStatus::Skipped { format!("{w} (on_failure: skip)") } else { w }
        });
        self.out.push(Effect::UpdateRun { id, patch });
        self.fail_final(&run, Said { status, reason: why, ended, at });
    }

    fn last_run(&mut self, run: &Run, status: RunStatus) {
        self.out.push(Effect::JobState {
            job: run.job.name.clone(),
            patch: JobStatePatch { last_run: Some((run.id, status)), ..JobStatePatch::default() },
        });
    }

    /// After the last attempt failed (its row already written with `status`): `on_failure`.
    fn fail_final(&mut self, run: &Run, said: Said) {
        let (status, at) = (said.status, said.at);
        let policy = run.job.on_failure;
        let passes = policy == OnFailure::Ignore;
        self.outcomes.insert(run.job.name.clone(), (status, passes));
        self.last_run(run, status);
        if matches!(policy, OnFailure::Alert | OnFailure::Stop) {
            let target = run.job.notify.on_failure.clone();
            self.notify(Event::Failure, target, run, said);
        }
        if policy == OnFailure::Stop {
            self.stop_cycle(&run.cycle, &run.job.name, at);
        }
        self.settle(&run.job.name, &run.cycle, status, passes, at);
    }

    /// `on_failure: stop`: everything unfinished in the cycle is cancelled or skipped.
    fn stop_cycle(&mut self, cycle: &str, by: &str, now: OffsetDateTime) {
        let Some(c) = self.cycles.get_mut(cycle) else { return };
        c.stopped_by = Some(by.to_owned());
        let why = format!("pipeline stopped by {by}");
        let live: Vec<i64> = self
            .runs
            .values()
            .filter(|r| r.cycle == cycle && r.job.name != by)
            .map(|r| r.id)
            .collect();
        for id in live {
            self.cancel_run(id, &why, false, now);
        }
        // Members that were never triggered are recorded now, SKIPPED.
        let untriggered: Vec<String> = self
            .cycles
            .get(cycle)
            .map(|c| {
                c.members
                    .iter()
                    .filter(|(_, m)| **m == Member::Untriggered)
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default();
        for name in untriggered {
            let Some(slot) = self.jobs.get(&name) else { continue };
            let job = slot.job.clone();
            let id = self.record(&job, Trigger::Dependency, "dependency", None, cycle, 1, now);
            if let Some(c) = self.cycles.get_mut(cycle) {
                c.members.insert(name.clone(), Member::Live(id));
            }
            self.skip_row(id, &job, cycle, &why, now);
        }
    }

    /// Stops a run: a running one is cancelled through its worker (it ends CANCELLED with
    /// `why`); one not started yet ends CANCELLED at once.
    fn cancel_run(&mut self, id: i64, why: &str, now_kill: bool, now: OffsetDateTime) {
        let Some(run) = self.runs.get_mut(&id) else { return };
        match run.state {
            State::Dispatched | State::Running => {
                if run.cancel_reason.is_none() {
                    run.cancel_reason = Some(why.to_owned());
                }
                self.out.push(Effect::Cancel { run_id: id, now: now_kill });
            }
            State::Waiting | State::Queued | State::RetryWait(_) => {
                let run = run.clone();
                self.runs.remove(&id);
                if let State::RetryWait(at) = run.state {
                    self.timers.remove(&(at, Timer::Retry(id)));
                }
                self.out.push(Effect::UpdateRun {
                    id,
                    patch: RunPatch {
                        status: Some(RunStatus::Cancelled),
                        status_reason: Some(why.to_owned()),
                        finished_at: Some(now),
                        ..RunPatch::default()
                    },
                });
                self.last_run(&run, RunStatus::Cancelled);
                self.settle(&run.job.name, &run.cycle, RunStatus::Cancelled, false, now);
            }
        }
    }

    fn running_ids(&self) -> Vec<i64> {
        self.runs
            .values()
            .filter(|r| matches!(r.state, State::Dispatched | State::Running))
            .map(|r| r.id)
            .collect()
    }

    fn retry_due(&mut self, id: i64, now: OffsetDateTime) {
        if self.stopping {
            return; // the RETRYING row is re-armed at the next start
        }
        let Some(old) = self.runs.remove(&id) else { return };
        let attempt = old.attempt + 1;
        let new = self.record(
            &old.job,
            Trigger::Retry,
            &old.triggered_by,
            old.reason.clone(),
            &old.cycle,
            attempt,
            now,
        );
        if let Some(c) = self.cycles.get_mut(&old.cycle)
            && c.members.contains_key(&old.job.name)
        {
            c.members.insert(old.job.name.clone(), Member::Live(new));
        }
        self.runs.insert(
            new,
            Run {
                id: new,
                attempt,
                trigger: Trigger::Retry,
                state: State::Queued,
                sla_at: None,
                sla_breached: false,
                cancel_reason: None,
                ..old
            },
        );
        self.queue.push_back(new);
    }

    /// Pauses or resumes a tag selector. A pause is a rule that also holds for jobs added
    /// later; a resume removes the rule of the same selector.
    fn pause_tag(&mut self, tag: &str, paused: bool) -> Reply {
        let selector = match Selector::parse(tag) {
            Ok(s) => s,
            Err(e) => return Reply::Error(e),
        };
        let key = selector.to_string();
        let n = self.jobs.values().filter(|s| selector.matches(&s.job.tags)).count();
        if paused {
            if n == 0 {
                return Reply::Error(format!("no job matches the tag selector {tag:?}"));
            }
            self.paused_tags.insert(key.clone(), selector);
        } else if self.paused_tags.remove(&key).is_none() {
            let rules: Vec<&str> = self
                .paused_tags
                .iter()
                .filter(|(_, rule)| {
                    self.jobs
                        .values()
                        .any(|s| selector.matches(&s.job.tags) && rule.matches(&s.job.tags))
                })
                .map(|(k, _)| k.as_str())
                .collect();
            return Reply::Error(if rules.is_empty() {
                format!("the tag selector {key:?} is not paused")
            } else {
                format!(
                    "the tag selector {key:?} is not paused; its jobs are paused by {}: resume \
                     that instead",
                    rules.join(", ")
                )
            });
        }
        self.out.push(Effect::PauseTag { tag: key.clone(), paused });
        let verb = if paused { "paused" } else { "resumed" };
        Reply::Done(format!("tag {key} {verb} ({n} jobs)"))
    }

    /// Runs a job's last FAILED run again as the next attempt of its cycle; when that cycle is
    /// over, it is opened again so the job's `after:` children follow a success.
    fn retry(
        &mut self,
        job: &str,
        of: &RetryOf,
        reason: Option<String>,
        by: String,
        now: OffsetDateTime,
    ) -> Reply {
        let Some(slot) = self.jobs.get(job) else {
            return Reply::Error(self.unknown_job(job));
        };
        if self.stopping {
            return Reply::Error("the daemon is shutting down".into());
        }
        if let Some(live) = self.runs.values().find(|r| r.job.name == job) {
            return Reply::Conflict(format!(
                "{job} has run {} in progress; retry it once it has ended",
                live.id
            ));
        }
        let last = self.outcomes.get(job).map(|o| o.0);
        if of.status != RunStatus::Failed || last.is_some_and(|s| s != RunStatus::Failed) {
            let status = last.filter(|s| *s != RunStatus::Failed).unwrap_or(of.status);
            return Reply::Conflict(format!(
                "the last run of {job} ended {}; only a FAILED run can be retried",
                status.as_str()
            ));
        }
        let job = slot.job.clone();
        let cycle = match &of.cycle_id {
            Some(id) if self.cycles.contains_key(id) => id.clone(),
            Some(id) => {
                self.open_cycle(id, &job.name);
                id.clone()
            }
            None => self.new_cycle(&job.name),
        };
        let reason = reason.or_else(|| Some(format!("retry of run {}", of.run_id)));
        let created = self.start_run(&job, Trigger::Retry, by, reason, &cycle, of.attempt + 1, now);
        Reply::Runs(vec![created])
    }

    // ---- recovery ---------------------------------------------------------------------------

    fn recover(&mut self, r: &RestoredRun, now: OffsetDateTime) {
        let Some(slot) = self.jobs.get(&r.job) else {
            let why = "its job is no longer in the configuration";
            self.out.push(Effect::UpdateRun {
                id: r.id,
                patch: RunPatch {
                    status: Some(if r.status == RunStatus::Running {
                        RunStatus::Failed
                    } else {
                        RunStatus::Cancelled
                    }),
                    status_reason: Some(format!("daemon restarted; {why}")),
                    finished_at: Some(now),
                    ..RunPatch::default()
                },
            });
            return;
        };
        let job = slot.job.clone();
        let cycle = match &r.cycle_id {
            Some(c) => c.clone(),
            None => self.new_cycle(&r.job),
        };
        let cycle_entry = self.cycles.entry(cycle.clone()).or_default();
        cycle_entry.members.insert(r.job.clone(), Member::Live(r.id));
        let mut run = Run {
            id: r.id,
            job: job.clone(),
            attempt: r.attempt,
            trigger: r.trigger,
            triggered_by: r.triggered_by.clone(),
            reason: r.reason.clone(),
            cycle: cycle.clone(),
            state: State::Queued,
            sla_at: None,
            sla_breached: false,
            cancel_reason: None,
        };
        match r.status {
            RunStatus::Running => {
                let why = "orphaned: daemon restarted".to_owned();
                self.out.push(Effect::UpdateRun {
                    id: r.id,
                    patch: RunPatch {
                        status: Some(RunStatus::Failed),
                        status_reason: Some(why.clone()),
                        finished_at: Some(now),
                        ..RunPatch::default()
                    },
                });
                if run.attempt <= job.retries {
                    // Retried at once, in its cycle (its orphan is gone).
                    run.state = State::RetryWait(now);
                    self.out.push(Effect::UpdateRun {
                        id: r.id,
                        patch: RunPatch {
                            status: Some(RunStatus::Retrying),
                            retry_at: Some(now),
                            ..RunPatch::default()
                        },
                    });
                    self.runs.insert(r.id, run);
                    self.timers.insert((now, Timer::Retry(r.id)));
                } else {
                    let said =
                        Said { status: RunStatus::Failed, reason: Some(why), ended: None, at: now };
                    self.fail_final(&run, said);
                }
            }
            RunStatus::Retrying => {
                let at = r.retry_at.unwrap_or(now);
                run.state = State::RetryWait(at);
                self.runs.insert(r.id, run);
                self.timers.insert((at, Timer::Retry(r.id)));
            }
            _ => {
                match self.gate(&job, &cycle) {
                    Gate::Pass => self.queue.push_back(r.id),
                    Gate::Wait => run.state = State::Waiting,
                    Gate::Fail(why) => {
                        self.skip_row(r.id, &job, &cycle, &why, now);
                        return;
                    }
                }
                self.runs.insert(r.id, run);
            }
        }
    }

    // ---- commands ---------------------------------------------------------------------------

    fn command(&mut self, c: Command, now: OffsetDateTime) -> Reply {
        match c {
            Command::Run { job, reason, by } => {
                let Some(slot) = self.jobs.get(&job) else {
                    return Reply::Error(self.unknown_job(&job));
                };
                if self.stopping {
                    return Reply::Error("the daemon is shutting down".into());
                }
                let job = slot.job.clone();
                let cycle = self.new_cycle(&job.name);
                Reply::Runs(vec![self.trigger(&job, Trigger::Manual, by, reason, &cycle, now)])
            }
            Command::RunTag { tag, reason, by } => {
                if self.stopping {
                    return Reply::Error("the daemon is shutting down".into());
                }
                let selector = match Selector::parse(&tag) {
                    Ok(s) => s,
                    Err(e) => return Reply::Error(e),
                };
                let jobs: Vec<Arc<Job>> = self
                    .jobs
                    .values()
                    .filter(|s| selector.matches(&s.job.tags))
                    .map(|s| s.job.clone())
                    .collect();
                if jobs.is_empty() {
                    return Reply::Error(format!("no job matches the tag selector {tag:?}"));
                }
                let mut created = Vec::new();
                for job in jobs {
                    let cycle = self.new_cycle(&job.name);
                    created.push(self.trigger(
                        &job,
                        Trigger::Manual,
                        by.clone(),
                        reason.clone(),
                        &cycle,
                        now,
                    ));
                }
                Reply::Runs(created)
            }
            Command::Cancel { run_id, by } => {
                let Some(run) = self.runs.get(&run_id) else {
                    return Reply::Error(format!("run {run_id} is not running or waiting"));
                };
                let job = run.job.name.clone();
                self.cancel_run(run_id, &format!("cancelled by {by}"), false, now);
                Reply::Done(format!("run {run_id} of {job} is being cancelled"))
            }
            Command::Pause { job, paused } => {
                let Some(slot) = self.jobs.get_mut(&job) else {
                    return Reply::Error(self.unknown_job(&job));
                };
                slot.paused = paused;
                self.out.push(Effect::JobState {
                    job: job.clone(),
                    patch: JobStatePatch { paused: Some(paused), ..JobStatePatch::default() },
                });
                let verb = if paused { "paused" } else { "resumed" };
                Reply::Done(format!("{job} {verb}"))
            }
            Command::PauseTag { tag, paused } => self.pause_tag(&tag, paused),
            Command::Retry { job, of, reason, by } => self.retry(&job, &of, reason, by, now),
            Command::Skip { job } => {
                let Some(slot) = self.jobs.get(&job) else {
                    return Reply::Error(self.unknown_job(&job));
                };
                let pending: Vec<Run> = self
                    .runs
                    .values()
                    .filter(|r| {
                        r.job.name == job && matches!(r.state, State::Waiting | State::Queued)
                    })
                    .cloned()
                    .collect();
                if pending.is_empty() {
                    if slot.next.is_none() {
                        return Reply::Error(format!("{job} has no pending run and no next slot"));
                    }
                    let next = slot.next;
                    if let Some(s) = self.jobs.get_mut(&job) {
                        s.skip_next = true;
                    }
                    self.out.push(Effect::JobState {
                        job: job.clone(),
                        patch: JobStatePatch { skip_next: Some(true), ..JobStatePatch::default() },
                    });
                    let at = next.map(crate::store::ts).unwrap_or_default();
                    return Reply::Done(format!("{job}: the next slot ({at}) will be skipped"));
                }
                for r in &pending {
                    self.runs.remove(&r.id);
                    self.skip_row(r.id, &r.job, &r.cycle, "skipped by a user", now);
                }
                Reply::Done(format!("{job}: {} pending run(s) skipped", pending.len()))
            }
            Command::Config => Reply::Config(InForce(self.config.clone())),
            Command::CycleOpen(id) => Reply::Open(self.cycles.contains_key(&id)),
            Command::Status => {
                let mut live: HashMap<&str, Vec<(i64, RunStatus)>> = HashMap::new();
                for r in self.runs.values() {
                    let status = match r.state {
                        State::Waiting | State::Queued | State::Dispatched => RunStatus::Pending,
                        State::Running => RunStatus::Running,
                        State::RetryWait(_) => RunStatus::Retrying,
                    };
                    live.entry(r.job.name.as_str()).or_default().push((r.id, status));
                }
                let views = self
                    .jobs
                    .values()
                    .map(|s| JobView {
                        job: s.job.clone(),
                        next_run: s.due,
                        paused: self.paused(s),
                        skip_next: s.skip_next,
                        runs: live.get(s.job.name.as_str()).cloned().unwrap_or_default(),
                    })
                    .collect();
                Reply::Jobs(views)
            }
            Command::Reload(config) => {
                self.install(&config);
                self.config = config;
                let names: Vec<String> = self.jobs.keys().cloned().collect();
                for name in names {
                    if self.jobs[&name].due.is_none() {
                        self.schedule_from(&name, now);
                    }
                }
                Reply::Done(format!("configuration reloaded ({} jobs)", self.jobs.len()))
            }
            Command::Shutdown { force } => {
                self.stopping = true;
                self.timers.retain(|(_, t)| matches!(t, Timer::Sla(_)));
                if force {
                    for id in self.running_ids() {
                        self.cancel_run(id, "daemon shutdown", true, now);
                    }
                } else {
                    let at = now + self.settings.shutdown_timeout;
                    self.timers.insert((at, Timer::ShutdownKill));
                }
                Reply::Done(format!("shutting down; {} run(s) still running", self.active))
            }
        }
    }

    fn unknown_job(&self, job: &str) -> String {
        let names: Vec<&str> = self.jobs.keys().map(String::as_str).collect();
        match crate::config::suggest(job, names.iter().copied()) {
            Some(s) => format!("no job named {job:?} (did you mean {s:?}?)"),
            None => format!("no job named {job:?}"),
        }
    }
}

enum Gate {
    Pass,
    Wait,
    Fail(String),
}

/// The command and `env` of a job with `{{ outputs }}` rendered (`None` where unchanged).
#[allow(clippy::type_complexity)]
fn render_job(
    job: &Job,
    outputs: &Outputs,
) -> Result<(Option<String>, Option<Vec<(String, String)>>), template::Missing> {
    let command = if template::has_references(&job.command) {
        Some(template::render(&job.command, outputs)?)
    } else {
        None
    };
    let env = if job.env.iter().any(|(_, v)| template::has_references(v)) {
        let mut env = Vec::with_capacity(job.env.len());
        for (k, v) in &job.env {
            env.push((k.clone(), template::render(v, outputs)?));
        }
        Some(env)
    } else {
        None
    };
    Ok((command, env))
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
