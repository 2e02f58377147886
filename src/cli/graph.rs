//! `husky dag` and `husky tags list`: views of the job graph and tags, from the config file.

use std::collections::BTreeMap;
use std::str::FromStr;

use argh::FromArgs;
use serde_json::{Value, json};

use super::output::{Format, Table};
use super::remote::Targeted;
use super::{CliResult, load_valid_config};
use crate::client::ClientError;

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Show the dependency graph in topological order, with each job's live state when its
/// daemon is running (the graph of a remote daemon with --addr).
#[argh(subcommand, name = "dag")]
pub struct DagCmd {
    /// output format: text, json or dot (Graphviz)
    #[argh(option, default = "DagFormat::Text")]
    format: DagFormat,
}
}

/// `--format` of dag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DagFormat {
    /// `name  ←  [deps]` lines.
    Text,
    /// `[{"name", "dependencies"}]`.
    Json,
    /// Graphviz.
    Dot,
}

impl FromStr for DagFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        super::output::choose(
            s,
            &[("text", DagFormat::Text), ("json", DagFormat::Json), ("dot", DagFormat::Dot)],
        )
    }
}

pub fn run_dag(cmd: &DagCmd) -> CliResult {
    let client = cmd.client();
    let remote = cmd.addr.is_some() || super::globals().addr.is_some();
    // The graph: the remote daemon's, else the file's.
    let nodes: Vec<(String, Vec<String>)> = if remote {
        let list = client.get("/api/dag").map_err(super::remote::failed)?;
        list.as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                let deps = n["dependencies"].as_array().into_iter().flatten();
                let deps = deps.filter_map(|d| d.as_str().map(str::to_owned)).collect();
                (n["name"].as_str().unwrap_or("").to_owned(), deps)
            })
            .collect()
    } else {
        let config = load_valid_config(cmd.config.as_ref())?;
        let dag = &config.dag;
        dag.order()
            .iter()
            .map(|n| (n.clone(), dag.deps_of(n).map(str::to_owned).collect()))
            .collect()
    };
    // Live state, when a daemon answers.
    let live: BTreeMap<String, String> = match client.get("/api/jobs") {
        Ok(jobs) => jobs
            .as_array()
            .into_iter()
            .flatten()
            .map(|j| (j["name"].as_str().unwrap_or("").to_owned(), state_of(j)))
            .collect(),
        Err(ClientError::NotRunning(_)) if !remote => BTreeMap::new(),
        Err(e) => return Err(super::remote::failed(e)),
    };
    match cmd.format {
        DagFormat::Text => {
            for (name, deps) in &nodes {
                let mut line = name.clone();
                if !deps.is_empty() {
                    line.push_str(&format!("  ←  [{}]", deps.join(", ")));
                }
                if let Some(state) = live.get(name) {
                    line.push_str(&format!("   ({state})"));
                }
                println!("{line}");
            }
        }
        DagFormat::Dot => {
            let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
            let mut out = String::from("digraph husky {\n  rankdir=LR;\n");
            for (name, _) in &nodes {
                match live.get(name) {
                    Some(state) => {
                        out.push_str(&format!("  {} [xlabel={}];\n", quote(name), quote(state)));
                    }
                    None => out.push_str(&format!("  {};\n", quote(name))),
                }
            }
            for (name, deps) in &nodes {
                for d in deps {
                    out.push_str(&format!("  {} -> {};\n", quote(d), quote(name)));
                }
            }
            out.push_str("}\n");
            print!("{out}");
        }
        DagFormat::Json => {
            let list: Vec<Value> = nodes
                .iter()
                .map(|(name, deps)| {
                    let mut n = json!({"name": name, "dependencies": deps});
                    if let Some(state) = live.get(name) {
                        n["state"] = json!(state);
                    }
                    n
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
        }
    }
    Ok(())
}

/// A job's state in a word or two: running, paused, else its last run's status.
fn state_of(job: &Value) -> String {
    let mut parts = Vec::new();
    if job["running"] == true {
        parts.push("RUNNING".to_owned());
    } else if job["runs"].as_array().is_some_and(|r| !r.is_empty()) {
        parts.push("PENDING".to_owned());
    } else {
        parts.push(job["last_run"]["status"].as_str().unwrap_or("never run").to_owned());
    }
    if job["paused"] == true {
        parts.push("paused".into());
    }
    parts.join(", ")
}

#[derive(FromArgs, Debug)]
/// Work with job tags.
#[argh(subcommand, name = "tags")]
pub struct TagsCmd {
    #[argh(subcommand)]
    command: TagsSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum TagsSub {
    List(TagsList),
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// List every tag with the number of jobs carrying it, sorted by tag, and, when the daemon
/// is running, their health: how many of them last ended in each status.
#[argh(subcommand, name = "list")]
struct TagsList {
    /// output format: text, json, ndjson, csv or tsv
    #[argh(option, default = "Format::Text")]
    format: Format,
}
}

pub fn run_tags(cmd: &TagsCmd) -> CliResult {
    let TagsSub::List(list) = &cmd.command;
    let remote = list.addr.is_some() || super::globals().addr.is_some();
    match list.client().get("/api/tags") {
        Ok(tags) => {
            let rows = tags
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let health: Vec<String> = t["health"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(status, n)| format!("{n} {status}"))
                        .collect();
                    vec![
                        t["tag"].clone(),
                        t["count"].clone(),
                        t["jobs"].clone(),
                        json!(health.join(", ")),
                    ]
                })
                .collect();
            let table = Table { columns: vec!["tag", "count", "jobs", "health"], rows };
            print!("{}", table.render(list.format));
            return Ok(());
        }
        Err(ClientError::NotRunning(_)) if !remote => {}
        Err(e) => return Err(super::remote::failed(e)),
    }
    let config = load_valid_config(list.config.as_ref())?;
    let mut tags: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for job in &config.jobs {
        for tag in &job.tags {
            tags.entry(tag).or_default().push(&job.name);
        }
    }
    let table = Table {
        columns: vec!["tag", "count", "jobs"],
        rows: tags
            .iter()
            .map(|(tag, jobs)| vec![json!(tag), json!(jobs.len()), json!(jobs)])
            .collect(),
    };
    print!("{}", table.render(list.format));
    Ok(())
}
