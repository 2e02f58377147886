//! The `husky` binary: a thin shell around [`husky::run`], which owns every exit path.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    husky::run(&args)
}
