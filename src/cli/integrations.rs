//! `husky integrations list` and `husky integrations test NAME`, through the daemon: the
//! integrations of husky.yaml with their last delivery, and a test message recorded as an
//! alert.

use argh::FromArgs;
use serde_json::{Value, json};

use super::output::{Format, Table};
use super::remote::{Targeted, escape, failed};
use super::{CliError, CliResult};

#[derive(FromArgs, Debug)]
/// List the notification integrations or send a test message through one.
#[argh(subcommand, name = "integrations")]
pub struct IntegrationsCmd {
    #[argh(subcommand)]
    command: Sub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Sub {
    List(ListCmd),
    Test(TestCmd),
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// List the integrations: name, provider, credential status and last delivery (never a
/// credential).
#[argh(subcommand, name = "list")]
pub struct ListCmd {
    /// output format: table, json, ndjson, csv or tsv
    #[argh(option, default = "Format::Text")]
    format: Format,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Send a test message through an integration now (recorded as a `test` alert); exit 1 if
/// it is not delivered.
#[argh(subcommand, name = "test")]
pub struct TestCmd {
    /// the integration, as named under integrations in husky.yaml
    #[argh(positional)]
    name: String,
}
}

/// Runs `husky integrations ...`.
pub fn run(cmd: &IntegrationsCmd) -> CliResult {
    match &cmd.command {
        Sub::List(c) => list(c),
        Sub::Test(c) => test(c),
    }
}

fn list(cmd: &ListCmd) -> CliResult {
    let answer = cmd.client().get("/api/integrations").map_err(failed)?;
    let mut table = Table {
        columns: vec![
            "name",
            "provider",
            "credentials",
            "last_delivery",
            "last_attempt_at",
            "error",
        ],
        rows: Vec::new(),
    };
    for i in answer.as_array().into_iter().flatten() {
        let last = &i["last_delivery"];
        table.rows.push(vec![
            i["name"].clone(),
            i["provider"].clone(),
            i["credentials"].clone(),
            if last.is_null() { json!("never") } else { last["status"].clone() },
            last["at"].clone(),
            last["error"].clone(),
        ]);
    }
    print!("{}", table.render(cmd.format));
    Ok(())
}

fn test(cmd: &TestCmd) -> CliResult {
    let path = format!("/api/integrations/{}/test", escape(&cmd.name));
    let answer: Value = cmd.client().post(&path, &json!({})).map_err(failed)?;
    let id = answer["alert_id"].as_i64().map(|i| format!(" (alert {i})")).unwrap_or_default();
    if answer["ok"].as_bool() == Some(true) {
        println!("{}: test message delivered{id}", cmd.name);
        return Ok(());
    }
    let error = answer["error"].as_str().unwrap_or("not delivered");
    Err(CliError::Failed(format!("{}: test message not delivered{id}: {error}", cmd.name)))
}
