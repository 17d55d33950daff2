//! The `wsbench` binary: parse flags, run, map errors to exit codes. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wsbench::cli::Cli::parse();
    match wsbench::main_with(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(wsbench::exit_code(&e))
        }
    }
}
