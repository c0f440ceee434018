//! The `tensorport` command: inspect, load, convert and run PyTorch checkpoints (one file per
//! subcommand; `tensorport_cli::describe` is the JSON that `inspect --json` prints).

mod bench;
mod classify;
mod convert;
mod convert_formats;
mod images;
mod inspect;
mod load;
mod program;
mod progress;
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
    /// No progress bars and no notes on stderr (errors are still printed).
    #[arg(long, short, global = true)]
    quiet: bool,
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
    /// Convert between .pt, .safetensors and .pt2 (its weights): retag storage locations, strip
    /// or add key prefixes.
    Convert(convert::Args),
    /// Run a torch.export program (.pt2) or the recipe's Net from a checkpoint on a saved
    /// input or on images (PNG/JPEG); print outputs, top classes and time per batch.
    Run(run::Args),
    /// Time a .pt2 program or the recipe's Net per batch size (median and p90 latency,
    /// throughput), optionally beside PyTorch on the same cases.
    Bench(bench::Args),
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
    progress::set_quiet(cli.quiet);
    match cli.command {
        Command::Inspect(a) => inspect::run(&a),
        Command::Load(a) => load::run(&a),
        Command::Convert(a) => convert::run(&a),
        Command::Run(a) => run::run(&a),
        Command::Bench(a) => bench::run(&a),
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
