use std::process::ExitCode;

use clap::Parser;
use train_native::{cli, evaluate, export, predict, train};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        None => train::run(&cli.train),
        Some(cli::Command::Train(args)) => train::run(&args),
        Some(cli::Command::Evaluate(args)) => evaluate::run(&args),
        Some(cli::Command::Predict(args)) => predict::run(&args),
        Some(cli::Command::Plot(args)) => export::replot(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
