//! `husky dag` and `husky tags list`: views of the job graph and tags, from the config file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use argh::FromArgs;
use serde_json::json;

use super::output::{Format, Table};
use super::{CliResult, load_valid_config};

#[derive(FromArgs, Debug)]
/// Show the dependency graph in topological order.
#[argh(subcommand, name = "dag")]
pub struct DagCmd {
    /// the husky.yaml to read (default: $HUSKY_CONFIG, else ./husky.yaml)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// output format: text, json or dot (Graphviz)
    #[argh(option, default = "DagFormat::Text")]
    format: DagFormat,
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
    let config = load_valid_config(cmd.config.as_ref())?;
    let dag = &config.dag;
    match cmd.format {
        DagFormat::Text => print!("{}", dag.render_text()),
        DagFormat::Dot => print!("{}", dag.render_dot()),
        DagFormat::Json => {
            let nodes: Vec<_> = dag
                .order()
                .iter()
                .map(|name| json!({"name": name, "dependencies": dag.deps_of(name).collect::<Vec<_>>()}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&nodes).unwrap_or_default());
        }
    }
    Ok(())
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

#[derive(FromArgs, Debug)]
/// List every tag with the number of jobs carrying it, sorted by tag.
#[argh(subcommand, name = "list")]
struct TagsList {
    /// the husky.yaml to read (default: $HUSKY_CONFIG, else ./husky.yaml)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// output format: text, json, ndjson, csv or tsv
    #[argh(option, default = "Format::Text")]
    format: Format,
}

pub fn run_tags(cmd: &TagsCmd) -> CliResult {
    let TagsSub::List(list) = &cmd.command;
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
