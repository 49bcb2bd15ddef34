//! `trainer`: the native command line of the language-sensitive music emotion recognizer
//! (its flags and commands: `trainer::cli`).

use std::process::ExitCode;

use clap::Parser;
use trainer::cli::{Cli, one_line, run};

fn main() -> ExitCode {
    mer::alloc::tune_for_training();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
