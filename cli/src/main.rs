//! The `tensorport` command: inspect, convert and run PyTorch checkpoints (one file per
//! subcommand; `tensorport_cli::describe` is the JSON that `inspect --json` prints).

mod convert;
mod inspect;
mod program;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tensorport",
    version,
    about = "Inspect, convert and run PyTorch checkpoints without Python"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every tensor of a checkpoint (key path, dtype, shape, stride, offset, saved location,
    /// bytes), or a program's inputs, outputs, ops, parameters, FLOPs and peak memory.
    Inspect(inspect::Args),
    /// Rewrite a checkpoint: retag storage locations, strip or add key prefixes.
    Convert(convert::Args),
    /// Run a torch.export program (.pt2) or the recipe's Net from a checkpoint; print outputs,
    /// classes and time per batch.
    Run(run::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Inspect(a) => inspect::run(&a),
        Command::Convert(a) => convert::run(&a),
        Command::Run(a) => run::run(&a),
    }
}

/// Prints an error as one line and returns the failure exit code.
pub(crate) fn fail(e: &tensorport::Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
