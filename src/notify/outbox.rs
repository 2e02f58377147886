//! The notifier thread and its outbox: notices become `alerts` rows (`pending`) before any
//! delivery, attempts are retried on a schedule of their own (never blocking the engine), and
//! each outcome is written back through the store writer. See the module docs of
//! [`super`] for the retry rules.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, after, never, select, unbounded};
use time::OffsetDateTime;

use super::channel::{self, Route};
use super::http::{Failure, Http};
use super::message::{self, Record};
use super::payload::{self, Request};
use super::redact::{self, Redactor};
use super::{Control, NotifyError, Settings};
use crate::clock::Clock;
use crate::config::{Config, Provider};
use crate::engine::core::{Event, Notice};
use crate::log::Logger;
use crate::store::query::Reader;
use crate::store::writer::{StoreCmd, StoreHandle};
use crate::store::{NewAlert, StoreError, parse_ts};

/// How often a notification whose receiver cannot be reached is tried again once its quick
/// retries are spent, until `alerts.give_up_after`.
pub const OFFLINE_RETRY: Duration = Duration::from_secs(300);
/// How long the notifier waits for a new alert row's id before it delivers anyway (the
/// database may be unwritable; the outcome is written once the row exists).
const ID_WAIT: Duration = Duration::from_secs(1);
/// How long a test through an integration waits for its row: its id is part of the answer.
const TEST_ID_WAIT: Duration = Duration::from_secs(10);
/// Pending alerts taken up again at start, at most.
const RESTORE_LIMIT: u32 = 10_000;

/// The notifier: its channels from the start, its thread from the first time it has work (a
/// notice, a request, pending alerts or `on_daemon_start`), so an idle daemon that never
/// notifies does not carry it.
#[derive(Debug)]
pub struct Notifier {
    control: Sender<Control>,
    waker: Waker,
}

/// Starts the notifier's thread when it is first needed; cheap to clone and to call.
#[derive(Clone)]
pub struct Waker(Arc<Lazy>);

/// What starts the thread (once).
type Spawn = Box<dyn FnOnce() -> std::io::Result<JoinHandle<()>> + Send>;

struct Lazy {
    start: Mutex<Option<Spawn>>,
    join: Mutex<Option<JoinHandle<()>>>,
    /// Copies of the receivers, to see at exit whether work came in without a wake.
    notices: Receiver<Notice>,
    control: Receiver<Control>,
    log: Logger,
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let started = self.0.start.lock().map(|s| s.is_none()).unwrap_or(true);
        f.debug_struct("Waker").field("started", &started).finish()
    }
}

impl Waker {
    /// Starts the thread if it is not running yet.
    pub fn wake(&self) {
        let Ok(mut start) = self.0.start.lock() else { return };
        let Some(spawn) = start.take() else { return };
        match spawn() {
            Ok(join) => {
                if let Ok(mut j) = self.0.join.lock() {
                    *j = Some(join);
                }
            }
            Err(e) => self.0.log.error(&format!(
                "notify: cannot start the notifier thread ({e}); notifications stay pending"
            )),
        }
    }
}

/// A request channel that starts the notifier's thread when it sends.
#[derive(Debug, Clone)]
pub struct Link {
    control: Sender<Control>,
    waker: Waker,
}

impl Link {
    /// Sends a request and makes sure the thread runs to answer it; false when the notifier
    /// is gone.
    pub fn send(&self, c: Control) -> bool {
        if self.control.send(c).is_err() {
            return false;
        }
        self.waker.wake();
        true
    }
}

impl Notifier {
    /// Where the reloader sends the new configuration (queued; it does not start the thread).
    pub fn control(&self) -> Sender<Control> {
        self.control.clone()
    }

    /// Starts the thread on demand: the engine wakes it with each notice.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// The API's way in: each request starts the thread if needed.
    pub fn link(&self) -> Link {
        Link { control: self.control.clone(), waker: self.waker.clone() }
    }

    /// Waits for the thread: it ends once the engine (the sender of notices) is gone, after
    /// one attempt at each notification not tried yet. A notifier never started is started
    /// now if work reached it.
    pub fn join(self) {
        let lazy = &self.waker.0;
        if !lazy.notices.is_empty() || !lazy.control.is_empty() {
            self.waker.wake();
        }
        // Never started: drop what it would have run (its store handle must not keep the
        // writer waiting).
        drop(lazy.start.lock().ok().and_then(|mut s| s.take()));
        let join = lazy.join.lock().ok().and_then(|mut j| j.take());
        if let Some(j) = join {
            let _ = j.join();
        }
    }
}

/// Starts the notifier thread. Pending alerts of an earlier run of the daemon are taken up
/// again, and `alerts.on_daemon_start` is notified.
pub fn spawn(
    config: Arc<Config>,
    settings: Settings,
    notices: Receiver<Notice>,
    store: StoreHandle,
    clock: Arc<dyn Clock>,
    log: Logger,
) -> std::io::Result<Notifier> {
    let (control, control_rx) = unbounded();
    // The client itself is made at the first HTTP delivery (an idle daemon never needs its
    // TLS roots in memory); its settings are checked now.
    if let Err(e) = Http::check(&settings.http, &config.dir) {
        log.error(&format!("notify: {e}; HTTP notifications cannot be sent until this is fixed and the daemon restarted"));
    }
    let mut outbox = Outbox {
        redactor: Redactor::of(&config),
        config,
        settings,
        http: std::cell::OnceCell::new(),
        store,
        reader: None,
        clock,
        log,
        queue: Vec::new(),
        unrecorded: Vec::new(),
    };
    let eager = !outbox.settings.on_daemon_start.is_empty() || outbox.has_pending();
    let (notices_copy, control_copy) = (notices.clone(), control_rx.clone());
    let log = outbox.log.clone();
    let spawn = move || {
        std::thread::Builder::new()
            .name("husky-notifier".into())
            .spawn(move || outbox.run(&notices, control_rx))
    };
    let waker = Waker(Arc::new(Lazy {
        start: Mutex::new(Some(Box::new(spawn))),
        join: Mutex::new(None),
        notices: notices_copy,
        control: control_copy,
        log,
    }));
    if eager {
        waker.wake();
        if waker.0.join.lock().map(|j| j.is_none()).unwrap_or(true) {
            return Err(std::io::Error::other("cannot start the notifier thread"));
        }
    }
    Ok(Notifier { control, waker })
}

/// A notification on its way.
#[derive(Debug)]
struct Item {
    /// Its alert row, once known.
    id: Option<i64>,
    /// The row's id, while the writer has not committed it yet.
    id_rx: Option<Receiver<Result<i64, StoreError>>>,
    record: Record,
    attempts: u32,
    /// When to try next.
    due: Instant,
    /// When it was raised (or retried by hand): `give_up_after` counts from here.
    raised: OffsetDateTime,
    /// Its state to write: status, error, time of the last attempt.
    state: Option<(&'static str, Option<String>, OffsetDateTime)>,
}

struct Outbox {
    config: Arc<Config>,
    settings: Settings,
    /// The HTTP client, made at the first HTTP delivery (or why it cannot be).
    http: std::cell::OnceCell<Result<Http, String>>,
    redactor: Redactor,
    store: StoreHandle,
    reader: Option<Reader>,
    clock: Arc<dyn Clock>,
    log: Logger,
    queue: Vec<Item>,
    /// Finished items whose row id is not known yet: their outcome is written once it is.
    unrecorded: Vec<Item>,
}

impl Outbox {
    fn run(mut self, notices: &Receiver<Notice>, control: Receiver<Control>) {
        let mut control = control;
        self.restore();
        self.reader = None;
        self.daemon_start();
        loop {
            self.settle_ids();
            let wait = self.next_wait();
            let timer = wait.map_or_else(never, after);
            select! {
                recv(notices) -> n => match n {
                    Ok(n) => self.raise(&n),
                    Err(_) => break,
                },
                recv(control) -> c => match c {
                    Ok(c) => self.control(c),
                    Err(_) => control = never(),
                },
                recv(timer) -> _ => {}
            }
            self.deliver_due(false);
            if self.queue.is_empty() {
                // An idle notifier holds no database connection (its caches are ~200 KiB).
                self.reader = None;
            }
        }
        self.deliver_due(true);
        self.finish();
    }

    /// How long until the next delivery is due (`None`: nothing to do but wait for news).
    fn next_wait(&self) -> Option<Duration> {
        let now = self.clock.monotonic();
        let due = self.queue.iter().map(|i| i.due.saturating_duration_since(now)).min();
        let ids = (!self.unrecorded.is_empty() || self.queue.iter().any(|i| i.id_rx.is_some()))
            .then_some(Duration::from_millis(500));
        match (due, ids) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether an earlier run left alerts to send (then the thread starts at once).
    fn has_pending(&mut self) -> bool {
        let pending = self.reader().and_then(|r| r.pending_alerts(1)).map(|rows| !rows.is_empty());
        self.reader = None;
        // When the database cannot be read, start and let restore() say so.
        pending.unwrap_or(true)
    }

    fn reader(&mut self) -> Result<&Reader, StoreError> {
        if self.reader.is_none() {
            self.reader = Some(Reader::open(&self.settings.db, self.settings.pragmas)?);
        }
        self.reader.as_ref().ok_or(StoreError::Closed)
    }

    /// Takes up the alerts an earlier run left `pending`.
    fn restore(&mut self) {
        let rows = match self.reader().and_then(|r| r.pending_alerts(RESTORE_LIMIT)) {
            Ok(rows) => rows,
            Err(e) => {
                self.log.error(&format!(
                    "notify: cannot read pending alerts ({e}); they are sent after the next restart"
                ));
                return;
            }
        };
        let now = self.clock.now_utc();
        for row in rows {
            let record =
                row.payload.as_deref().and_then(|p| serde_json::from_str::<Record>(p).ok());
            let Some(record) = record else {
                let error = "cannot send again: the alert holds no notification (recorded by an older husky)";
                self.write(row.id, "failed", row.attempts, Some(error.into()), now);
                continue;
            };
            let raised =
                parse_ts(&record.raised_at).or_else(|| parse_ts(&row.sent_at)).unwrap_or(now);
            let mut item = Item {
                id: Some(row.id),
                id_rx: None,
                record,
                attempts: row.attempts,
                due: self.clock.monotonic(),
                raised,
                state: None,
            };
            if now - raised >= self.settings.give_up_after {
                let error = format!(
                    "gave up: not delivered within {} ({})",
                    crate::config::format_duration(self.settings.give_up_after),
                    row.error.unwrap_or_else(|| "never attempted".into())
                );
                item.state = Some(("failed", Some(error), now));
                self.record_state(item);
                continue;
            }
            self.queue.push(item);
        }
        if !self.queue.is_empty() {
            self.log.info(&format!(
                "notify: {} pending notification(s) from before the restart",
                self.queue.len()
            ));
        }
    }

    fn daemon_start(&mut self) {
        let channels = self.settings.on_daemon_start.clone();
        let message = format!(
            "husky daemon {} started on {} (pid {})",
            env!("CARGO_PKG_VERSION"),
            hostname(),
            std::process::id()
        );
        for channel in channels {
            let record =
                Record::daemon("on_daemon_start", &channel, message.clone(), self.clock.now_utc());
            self.enqueue(record);
        }
    }

    /// An engine notice: its record (message rendered, logs attached) is queued, or recorded
    /// as failed when its channel cannot be resolved.
    fn raise(&mut self, n: &Notice) {
        let route =
            channel::resolve(&n.target.channel, &self.config.integrations, &self.config.dir);
        if n.event == Event::Resolve && !matches!(route, Ok(Route::PagerDuty { .. })) {
            return;
        }
        let logs = match message::wanted_lines(n.target.attach_logs) {
            Some(k) => self.logs_of(n.run_id, k),
            None => Vec::new(),
        };
        let record = message::record(n, logs);
        match route {
            Ok(_) => self.enqueue(record),
            Err(e) => {
                self.log.warn(&format!(
                    "notify: {} for {} run {}: {e}",
                    record.event, record.job, n.run_id
                ));
                self.insert(&record, "failed", Some(e), ID_WAIT);
            }
        }
    }

    /// The last `k` log lines of a run, once the writer has committed what it holds.
    fn logs_of(&mut self, run_id: i64, k: u32) -> Vec<String> {
        let _ = self.store.flush_within(Duration::from_secs(2));
        let read = self.reader().and_then(|r| {
            let start = r.log_tail_start(run_id, k, true)?;
            r.log_chunk(run_id, start, i64::MAX, k)
        });
        match read {
            Ok(lines) => lines.into_iter().map(|l| l.line).collect(),
            Err(e) => {
                self.log
                    .warn(&format!("notify: cannot read the logs of run {run_id} to attach ({e})"));
                Vec::new()
            }
        }
    }

    /// Writes a new alert row; returns the receiver of its id and the id if it came within
    /// `wait`.
    fn insert(
        &self,
        record: &Record,
        status: &str,
        error: Option<String>,
        wait: Duration,
    ) -> (Option<Receiver<Result<i64, StoreError>>>, Option<i64>) {
        let (ack, rx) = crossbeam_channel::bounded(1);
        let alert = NewAlert {
            job_name: record.job.clone(),
            run_id: record.run_id,
            event: record.event.clone(),
            channel: record.channel.clone(),
            status: status.to_owned(),
            attempts: 0,
            error: error.map(|e| self.redactor.apply(&e)),
            sent_at: parse_ts(&record.raised_at).unwrap_or_else(|| self.clock.now_utc()),
            payload: serde_json::to_string(record).ok(),
        };
        if self.store.send(StoreCmd::Alert { alert, ack: Some(ack) }).is_err() {
            self.log.error(&format!(
                "notify: the store is closed; the {} alert of {} is not recorded",
                record.event, record.job
            ));
            return (None, None);
        }
        match rx.recv_timeout(wait) {
            Ok(Ok(id)) => (None, Some(id)),
            Ok(Err(e)) => {
                self.log.error(&format!(
                    "notify: cannot record the {} alert of {} ({e}); it is sent anyway",
                    record.event, record.job
                ));
                (None, None)
            }
            Err(_) => (Some(rx), None),
        }
    }

    fn enqueue(&mut self, record: Record) {
        let (id_rx, id) = self.insert(&record, "pending", None, ID_WAIT);
        let raised = parse_ts(&record.raised_at).unwrap_or_else(|| self.clock.now_utc());
        self.queue.push(Item {
            id,
            id_rx,
            record,
            attempts: 0,
            due: self.clock.monotonic(),
            raised,
            state: None,
        });
    }

    /// Picks up row ids the writer committed late, and writes the outcomes that waited on them.
    fn settle_ids(&mut self) {
        let mut later = Vec::new();
        for mut item in std::mem::take(&mut self.unrecorded) {
            self.take_id(&mut item);
            match (item.id, &item.id_rx) {
                (Some(_), _) => self.record_state(item),
                (None, Some(_)) => later.push(item),
                // No row will come (take_id said why).
                (None, None) => {}
            }
        }
        self.unrecorded = later;
        let mut queue = std::mem::take(&mut self.queue);
        for item in &mut queue {
            if item.id_rx.is_some() {
                self.take_id(item);
                if let (Some(id), Some((status, error, at))) = (item.id, item.state.clone()) {
                    self.write(id, status, item.attempts, error, at);
                }
            }
        }
        self.queue = queue;
    }

    fn take_id(&self, item: &mut Item) {
        let Some(rx) = &item.id_rx else { return };
        match rx.try_recv() {
            Ok(Ok(id)) => {
                item.id = Some(id);
                item.id_rx = None;
            }
            Ok(Err(e)) => {
                self.log.error(&format!(
                    "notify: the {} alert of {} could not be recorded ({e})",
                    item.record.event, item.record.job
                ));
                item.id_rx = None;
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {}
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                self.log.error(&format!(
                    "notify: the store stopped before recording the {} alert of {}",
                    item.record.event, item.record.job
                ));
                item.id_rx = None;
            }
        }
    }

    /// Attempts every due delivery (`last`: the daemon is stopping, so only notifications
    /// never tried get their one attempt; the rest stay pending for the next start).
    fn deliver_due(&mut self, last: bool) {
        let now = self.clock.monotonic();
        let (due, rest): (Vec<Item>, Vec<Item>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|i| if last { i.attempts == 0 } else { i.due <= now });
        self.queue = rest;
        for item in due {
            self.attempt(item);
        }
    }

    fn attempt(&mut self, mut item: Item) {
        let result = match channel::resolve(
            &item.record.channel,
            &self.config.integrations,
            &self.config.dir,
        ) {
            Ok(route) => self.send(&route, &item.record, item.id),
            Err(e) => Err(Failure::permanent(e)),
        };
        item.attempts += 1;
        let now = self.clock.now_utc();
        let what = format!(
            "notify: {} {}{} to {}",
            item.record.event,
            if item.record.job.is_empty() {
                "of the daemon".to_owned()
            } else {
                format!("for {}", item.record.job)
            },
            item.record.run_id.map(|r| format!(" run {r}")).unwrap_or_default(),
            self.redactor.apply(&redact::channel(&item.record.channel)),
        );
        match result {
            Ok(()) => {
                self.log.info(&format!("{what}: delivered (attempt {})", item.attempts));
                item.state = Some(("delivered", None, now));
                self.record_state(item);
            }
            Err(f) => {
                let error = self.redactor.apply(&f.error);
                let expired = now - item.raised >= self.settings.give_up_after;
                if f.permanent || expired {
                    let why = if expired && !f.permanent {
                        format!(
                            "{error} (gave up after {})",
                            crate::config::format_duration(self.settings.give_up_after)
                        )
                    } else {
                        error
                    };
                    self.log
                        .warn(&format!("{what}: failed after {} attempt(s): {why}", item.attempts));
                    item.state = Some(("failed", Some(why), now));
                    self.record_state(item);
                } else {
                    let delay = self.delay(item.attempts);
                    self.log.info(&format!(
                        "{what}: attempt {} failed ({error}); next in {} s",
                        item.attempts,
                        delay.as_secs_f64()
                    ));
                    item.state = Some(("pending", Some(error), now));
                    item.due = self.clock.monotonic() + delay;
                    if let (Some(id), Some((s, e, at))) = (item.id, item.state.clone()) {
                        self.write(id, s, item.attempts, e, at);
                    }
                    self.queue.push(item);
                }
            }
        }
    }

    /// The wait after `attempts` failed attempts: `retry_backoff` doubling for
    /// `max_retries` retries, then [`OFFLINE_RETRY`].
    fn delay(&self, attempts: u32) -> Duration {
        retry_delay(&self.settings.http, attempts)
    }

    fn send(&self, route: &Route, record: &Record, delivery: Option<i64>) -> Result<(), Failure> {
        let timeout =
            Duration::try_from(self.settings.http.timeout).unwrap_or(Duration::from_secs(15));
        match payload::build(route, record, delivery) {
            Request::Http { url, headers, body } => {
                match self.http.get_or_init(|| Http::new(&self.settings.http, &self.config.dir)) {
                    Ok(h) => h.post(&url, &headers, &body),
                    Err(e) => Err(Failure::permanent(e.clone())),
                }
            }
            Request::Email { to, subject, body } => {
                let Route::Email { smtp, .. } = route else {
                    return Err(Failure::permanent("not an email route"));
                };
                let ca = self
                    .settings
                    .http
                    .ca_bundle
                    .as_deref()
                    .map(|b| crate::log::resolve(&self.config.dir, b));
                let mail = super::smtp::Email { to: &to, subject: &subject, body: &body };
                super::smtp::send(smtp, &mail, timeout, ca.as_deref()).map_err(Failure::transient)
            }
            Request::Script { env } => {
                let Route::Script { path } = route else {
                    return Err(Failure::permanent("not a script route"));
                };
                super::script::run(path, &env, timeout).map_err(Failure::transient)
            }
        }
    }

    /// Writes an item's state if its row id is known, else keeps it until it is.
    fn record_state(&mut self, item: Item) {
        match (item.id, item.state.clone()) {
            (Some(id), Some((status, error, at))) => {
                self.write(id, status, item.attempts, error, at);
            }
            (None, Some(_)) if item.id_rx.is_some() => self.unrecorded.push(item),
            (None, Some((status, ..))) => self.log.error(&format!(
                "notify: the {} alert of {} ended {status} but has no row to record it in",
                item.record.event, item.record.job
            )),
            _ => {}
        }
    }

    fn write(
        &self,
        id: i64,
        status: &str,
        attempts: u32,
        error: Option<String>,
        at: OffsetDateTime,
    ) {
        let cmd = StoreCmd::AlertAttempt { id, status: status.to_owned(), attempts, error, at };
        if self.store.send(cmd).is_err() {
            self.log.error(&format!(
                "notify: the store is closed; alert {id} ({status}) is not recorded"
            ));
        }
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::Config(config) => {
                self.redactor = Redactor::of(&config);
                self.config = config;
            }
            Control::Retry { id, reply } => {
                let _ = reply.send(self.retry(id));
            }
            Control::Test { name, reply } => {
                let _ = reply.send(self.test(&name));
            }
        }
    }

    /// `POST /api/db/alerts/{id}/retry`: back to `pending`, sent now.
    fn retry(&mut self, id: i64) -> Result<(), NotifyError> {
        let row = self
            .reader()
            .and_then(|r| r.alert(id))
            .map_err(|e| NotifyError::Unavailable(e.to_string()))?
            .ok_or_else(|| NotifyError::NotFound("alert not found".into()))?;
        if row.status == "pending" || self.queue.iter().any(|i| i.id == Some(id)) {
            return Err(NotifyError::Conflict("alert is already pending retry".into()));
        }
        let record = row
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Record>(p).ok())
            .ok_or_else(|| {
                NotifyError::Conflict(format!(
                    "alert {id} holds no notification to send again (recorded by an older husky)"
                ))
            })?;
        let now = self.clock.now_utc();
        self.write(id, "pending", row.attempts, row.error.clone(), now);
        self.queue.push(Item {
            id: Some(id),
            id_rx: None,
            record,
            attempts: row.attempts,
            due: self.clock.monotonic(),
            raised: now,
            state: None,
        });
        self.log.info(&format!("notify: alert {id} queued again by request"));
        Ok(())
    }

    /// `husky integrations test NAME`: one message through the integration now, recorded as a
    /// `test` alert. A PagerDuty test incident is resolved right after.
    fn test(&mut self, name: &str) -> Result<i64, NotifyError> {
        let i = self
            .config
            .integrations
            .get(name)
            .ok_or_else(|| NotifyError::NotFound(format!("integration {name:?} not found")))?;
        let target = match i.provider {
            Provider::PagerDuty => "p4".to_owned(),
            Provider::Smtp => i.from.clone().unwrap_or_default(),
            _ => String::new(),
        };
        let message = format!("husky integration test: {name} ({})", i.provider.name());
        let route = channel::integration(name, i, &target)
            .map_err(|e| NotifyError::Failed { id: None, error: e })?;
        let record =
            Record::daemon("test", &format!("{name}:{target}"), message, self.clock.now_utc());
        let (id_rx, id) = self.insert(&record, "pending", None, TEST_ID_WAIT);
        let mut result = self.send(&route, &record, id);
        if result.is_ok() && matches!(route, Route::PagerDuty { .. }) {
            let resolve = Record { event: "resolve".into(), ..record.clone() };
            result = self.send(&route, &resolve, id);
        }
        let now = self.clock.now_utc();
        let error = result.err().map(|f| self.redactor.apply(&f.error));
        let status = if error.is_some() { "failed" } else { "delivered" };
        let item = Item {
            id,
            id_rx,
            record,
            attempts: 1,
            due: self.clock.monotonic(),
            raised: now,
            state: Some((status, error.clone(), now)),
        };
        self.record_state(item);
        match error {
            None => Ok(id.unwrap_or(0)),
            Some(error) => Err(NotifyError::Failed { id, error }),
        }
    }

    /// At exit: waits a little for row ids still to come, and says what could not be recorded.
    fn finish(&mut self) {
        let deadline = self.clock.monotonic() + Duration::from_secs(2);
        for mut item in std::mem::take(&mut self.unrecorded) {
            if let Some(rx) = item.id_rx.take() {
                let left = deadline.saturating_duration_since(self.clock.monotonic());
                if let Ok(Ok(id)) = rx.recv_timeout(left) {
                    item.id = Some(id);
                }
            }
            if item.id.is_some() {
                self.record_state(item);
            } else {
                self.log.error(&format!(
                    "notify: the {} alert of {} could not be recorded before exit (the database is unavailable)",
                    item.record.event, item.record.job
                ));
            }
        }
        let left = self.queue.len();
        if left > 0 {
            self.log
                .info(&format!("notify: {left} notification(s) stay pending for the next start"));
        }
    }
}

/// The wait after `attempts` failed attempts: `retry_backoff`, doubling, for `max_retries`
/// retries; then [`OFFLINE_RETRY`] (never more).
pub fn retry_delay(http: &crate::config::HttpClientConfig, attempts: u32) -> Duration {
    let base = Duration::try_from(http.retry_backoff).unwrap_or(Duration::from_secs(2));
    if attempts == 0 || attempts > http.max_retries {
        return OFFLINE_RETRY;
    }
    base.saturating_mul(1 << (attempts - 1).min(20)).min(OFFLINE_RETRY)
}

/// This machine's name, for the daemon-start message.
fn hostname() -> String {
    ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "this machine".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_retries_double_then_fall_back_to_the_offline_interval() {
        let http = crate::config::HttpClientConfig {
            timeout: time::Duration::seconds(15),
            max_retries: 3,
            retry_backoff: time::Duration::seconds(2),
            proxy: None,
            ca_bundle: None,
        };
        let d: Vec<u64> = (1..=5).map(|a| retry_delay(&http, a).as_secs()).collect();
        assert_eq!(d, [2, 4, 8, 300, 300]);
        let none = crate::config::HttpClientConfig { max_retries: 0, ..http };
        assert_eq!(retry_delay(&none, 1), OFFLINE_RETRY);
    }
}
