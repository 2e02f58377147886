//! husky: a local-first job scheduler with dependency graphs.
//!
//! One binary is the CLI, the daemon, the HTTP/WebSocket API and the dashboard. Jobs live in a
//! `husky.yaml` beside the code they automate; runtime state lives in SQLite under `.husky/`.
//!
//! # Architecture invariants
//!
//! The daemon is synchronous and threaded (no async runtime): a fixed worker pool, one
//! engine ("ticker") thread, one SQLite writer thread, a small fixed set of HTTP threads (one
//! relay thread that polls every listener — TCP, the unix socket, the metrics listener — and
//! every connection, terminates TLS and enforces the timeouts, one private HTTP server behind
//! it, one request thread per listener, plus one per connection that has sent a request, at
//! most `api.max_connections` per listener), a notifier and a signal thread, talking only
//! through crossbeam channels.
//!
//! 1. The engine thread alone mutates scheduling state. No mutex around domain state anywhere.
//! 2. The store writer alone writes SQLite. Readers open their own read-only connections (WAL).
//! 3. A worker alone signals its child. Cancel requests travel engine → worker.
//! 4. Nothing blocking (HTTP, SMTP, DNS, heavy queries) runs on the engine thread; the engine
//!    never blocks on a full channel: it keeps its own ready queue and uses `try_send`.
//! 5. The engine reads time only through an injected [`clock::Clock`], once per loop turn; its
//!    core is `handle(input, now) -> Effects` plus `next_wakeup()`.
//! 6. The engine sleeps until its next deadline (capped at 30 s): no fixed-interval polling.
//! 7. Channel messages are owned values (or `Arc` snapshots of immutable config); every message
//!    enum is documented variant by variant and lives in its thread's module.
//! 8. Shutdown: stop firing → drain running work within `scheduler.shutdown_timeout` → kill what
//!    is left (process groups) → flush the writer → close listeners → join → remove run files.
//!
//! What clients watch is published by the store writer after commit, never before: a run's
//! log lines and the end of its log, and the engine's events (which travel in the engine's
//! store queue behind the changes they describe). Every subscriber has a bounded channel that
//! the writer fills with `try_send`; one that is full is dropped, never waited for. A stream's
//! thread (one per server-sent event stream or WebSocket, capped) holds no handle that keeps the
//! writer running.
//!
//! Configuration is loaded in two stages: YAML is parsed into a positioned tree
//! (`config::yaml`) and validated into an immutable, fully defaulted [`config::Config`]; threads
//! only ever see the validated form.
//!
//! # Panic strategy
//!
//! husky is built with `panic = "unwind"`. A panic is a bug, but it must not stop the scheduler
//! or lose data. Every long-lived thread runs its loop body one unit of work at a time (one HTTP
//! request, one notification, one store batch, one engine input) inside
//! `std::panic::catch_unwind`: the unit that panicked is answered with an error (HTTP 500, a
//! failed delivery, a run recorded FAILED with reason `internal error`) and logged with its
//! message, and the loop continues with the next unit. State owned by a thread is only changed by
//! complete, already-validated transitions, so a caught panic leaves it consistent; SQLite
//! changes are transactions, so a panic mid-batch rolls the batch back and it is retried. A
//! thread that panics outside a unit of work (it cannot continue) makes the daemon shut down
//! through the normal, data-preserving shutdown path and exit non-zero, so a supervisor
//! (systemd `Restart=on-failure`) restarts it; start-up recovery then reconciles what was
//! running.

pub mod api;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dag;
pub mod engine;
pub mod exec;
pub mod log;
pub mod notify;
pub mod schedule;
pub mod store;

use std::process::ExitCode;

/// Runs the `husky` command line with `args` (program name first) and returns the exit code.
///
/// Exit codes: 0 success, 1 failure (invalid config, failed command), 2 usage error.
pub fn run(args: &[String]) -> ExitCode {
    cli::main(args)
}
