//! The `tensorport` command: inspect, load, convert and run PyTorch checkpoints (one file per
//! subcommand; `tensorport_cli::describe` is the JSON that `inspect --json` prints).

mod classify;
mod convert;
mod images;
mod inspect;
mod load;
mod program;
mod run;
mod table;

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
    /// Load a checkpoint as `tensorport::load` does (every record CRC-checked, storages placed
    /// like torch.load with map_location) and print a summary (tensors, bytes, devices), or
    /// with --json the `inspect --json` document.
    Load(load::Args),
    /// Rewrite a checkpoint: retag storage locations, strip or add key prefixes.
    Convert(convert::Args),
    /// Run a torch.export program (.pt2) or the recipe's Net from a checkpoint on a saved
    /// input or on images (PNG/JPEG); print outputs, top classes and time per batch.
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
        Command::Load(a) => load::run(&a),
        Command::Convert(a) => convert::run(&a),
        Command::Run(a) => run::run(&a),
    }
}

/// Prints an error as one line and returns the failure exit code.
pub(crate) fn fail(e: &tensorport::Error) -> ExitCode {
    eprintln!("error: {}", one_line(&e.to_string()));
    ExitCode::FAILURE
}

/// `text` on one line: a message that quotes input (a key, a record name) could hold newlines.
pub(crate) fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}
