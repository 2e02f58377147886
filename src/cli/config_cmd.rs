//! `husky config show`: the effective configuration, defaults applied, secrets redacted.

use std::path::PathBuf;
use std::str::FromStr;

use super::{CliError, CliResult, config_path, load_valid_config};
use crate::config::view::{Secrets, daemon_view, husky_view};
use argh::FromArgs;

#[derive(FromArgs, Debug)]
/// Work with the configuration files.
#[argh(subcommand, name = "config")]
pub struct ConfigCmd {
    #[argh(subcommand)]
    command: ConfigSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum ConfigSub {
    Show(ShowCmd),
}

#[derive(FromArgs, Debug)]
/// Print the effective husky.yaml (or huskyd.yaml with --daemon) with every default applied.
/// Environment values and credentials are shown as *** unless --show-secrets.
#[argh(subcommand, name = "show")]
struct ShowCmd {
    /// the husky.yaml to read (default: $HUSKY_CONFIG, else ./husky.yaml)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// the huskyd.yaml to read with --daemon (default: huskyd.yaml beside husky.yaml)
    #[argh(option)]
    daemon_config: Option<PathBuf>,
    /// show the effective huskyd.yaml instead of husky.yaml
    #[argh(switch)]
    daemon: bool,
    /// output format: yaml or json
    #[argh(option, default = "ShowFormat::Yaml")]
    format: ShowFormat,
    /// print environment values and credentials instead of ***
    #[argh(switch)]
    show_secrets: bool,
}

/// `--format` of config show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShowFormat {
    Yaml,
    Json,
}

impl FromStr for ShowFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        super::output::choose(s, &[("yaml", ShowFormat::Yaml), ("json", ShowFormat::Json)])
    }
}

pub fn run(cmd: &ConfigCmd) -> CliResult {
    let ConfigSub::Show(show) = &cmd.command;
    let secrets = Secrets(show.show_secrets);
    let view = if show.daemon {
        let husky_path = config_path(show.config.as_ref());
        let daemon = super::daemon_config(show.daemon_config.as_deref(), &husky_path)?;
        daemon_view(&daemon, secrets)
    } else {
        husky_view(&load_valid_config(show.config.as_ref())?, secrets)
    };
    let text = match show.format {
        ShowFormat::Yaml => {
            serde_yaml::to_string(&view).map_err(|e| CliError::Failed(e.to_string()))?
        }
        ShowFormat::Json => {
            serde_json::to_string_pretty(&view).map_err(|e| CliError::Failed(e.to_string()))? + "\n"
        }
    };
    print!("{text}");
    Ok(())
}
