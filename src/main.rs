//! The `kubetally` binary: parse flags, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: kubetally::Allocator = kubetally::Allocator;

fn main() -> ExitCode {
    let cli = kubetally::cli::Cli::parse();
    match kubetally::cli::run(cli) {
        Ok(code) => code,
        Err(error) if kubetally::cli::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", kubetally::cli::error_line(&error));
            ExitCode::from(2)
        }
    }
}
