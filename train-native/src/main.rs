use std::process::ExitCode;

use clap::Parser;
use train_native::cli;
use train_native::commands::{evaluate, explain, plot, predict, recalibrate, train};

fn main() -> ExitCode {
    train_native::allocator::keep_freed_memory();
    quiet_decoder_panics();
    let cli = cli::Cli::parse();
    let result = match cli.command {
        None => train::run(&cli.train),
        Some(cli::Command::Train(args)) => train::run(&args),
        Some(cli::Command::Evaluate(args)) => evaluate::run(&args),
        Some(cli::Command::Predict(args)) => predict::run(&args),
        Some(cli::Command::Explain(args)) => explain::run(&args),
        Some(cli::Command::Recalibrate(args)) => recalibrate::run(&args),
        Some(cli::Command::Plot(args)) => plot::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A decoder that panics on a damaged file has its panic turned into that file's error
/// (`skin_lesion::preprocess::decode`); its message would only be noise on stderr.
fn quiet_decoder_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !skin_lesion::preprocess::decoding() {
            default(info);
        }
    }));
}
