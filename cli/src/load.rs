//! `tensorport load FILE [--map-location keep|cpu|cuda:N|SRC=DST,...] [--json]`: what
//! `tensorport::load` makes of a file (every record CRC-checked, storages placed like
//! `torch.load`), as a short summary or as the `inspect --json` document.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use tensorport::{MapLocation, Result};

#[derive(clap::Args)]
pub struct Args {
    /// A torch.save checkpoint (.pt, .pth, .bin; zip or legacy) or a .safetensors file (the
    /// format is read from the bytes).
    file: PathBuf,
    /// Where storages go: `keep` (their saved locations, torch's map_location=None), `cpu`,
    /// `cuda:N`, or `SRC=DST[,SRC=DST...]` such as `cuda:1=cpu`.
    #[arg(long, default_value = "keep")]
    map_location: String,
    /// Print the `inspect --json` document of the loaded checkpoint instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> ExitCode {
    if args.json {
        crate::progress::set_quiet(true);
    }
    let result = open(args).and_then(|ckpt| {
        if args.json {
            crate::inspect::print_json(&ckpt)
        } else {
            summary(&ckpt)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if args.json => crate::inspect::print_json_error(&e),
        Err(e) => crate::fail(&e),
    }
}

fn open(args: &Args) -> Result<tensorport::checkpoint::Checkpoint> {
    let map = match args.map_location.as_str() {
        "keep" => MapLocation::Keep,
        m => MapLocation::parse(m)?,
    };
    let bar = crate::progress::Bar::bytes(&format!("loading {}", args.file.display()));
    let loaded = tensorport::checkpoint::Checkpoint::open_with(
        &args.file,
        &tensorport::checkpoint::OpenOptions {
            map_location: map,
            verify_crc: true,
            host_only: false,
            progress: bar.callback(),
            ..Default::default()
        },
    );
    bar.finish();
    loaded
}

fn summary(ckpt: &tensorport::checkpoint::Checkpoint) -> Result<()> {
    let mut devices: BTreeMap<String, (usize, u128)> = BTreeMap::new();
    for s in ckpt.storages() {
        let e = devices.entry(s.storage.device().to_string()).or_default();
        e.0 += 1;
        e.1 += s.storage.nbytes() as u128;
    }
    let (mentions, views, view_bytes) = crate::table::count(ckpt);
    let total: u128 = devices.values().map(|d| d.1).sum();
    let on: Vec<String> = devices
        .iter()
        .map(|(dev, (n, b))| format!("{dev}: {n} storages, {b} bytes"))
        .collect();
    println!(
        "loaded {}: format {}; {} tensors ({} distinct views, {} bytes); {} storages, {} bytes \
         ({})",
        ckpt.path().display(),
        ckpt.format().name(),
        mentions,
        views,
        view_bytes,
        ckpt.storages().len(),
        total,
        if on.is_empty() {
            "no storages".to_string()
        } else {
            on.join("; ")
        }
    );
    Ok(())
}
