//! Integration tests: one binary that drives the real `husky` executable in temporary
//! directories, plus table-driven checks of the configuration rules through the library.

#[cfg(target_os = "linux")]
mod api;
mod cli;
#[cfg(target_os = "linux")]
mod daemon;
#[cfg(target_os = "linux")]
mod dashboard;
mod docs;
mod fuzz;
#[cfg(target_os = "linux")]
mod live;
#[cfg(target_os = "linux")]
mod notify;
#[cfg(target_os = "linux")]
mod operator;
mod oracle;
mod prune;
mod rules;
#[cfg(target_os = "linux")]
mod scenarios;
mod schema;
mod tidy;
#[cfg(target_os = "linux")]
mod tls;
mod util;
