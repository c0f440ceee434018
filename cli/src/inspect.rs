//! `tensorport inspect FILE [--json]`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use tensorport::checkpoint::{Checkpoint, OpenOptions};
use tensorport::Value;
use tensorport_cli::describe::describe;

#[derive(clap::Args)]
pub struct Args {
    /// The checkpoint (.pt, .pth, .bin), zip or legacy format, or a torch.export program (.pt2).
    file: PathBuf,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

fn open(file: &PathBuf) -> tensorport::Result<Checkpoint> {
    // Host only: inspecting a cuda:1 checkpoint needs no GPU. CRCs are checked, since the
    // description hashes every tensor anyway.
    Checkpoint::open_with(
        file,
        &OpenOptions {
            verify_crc: true,
            ..OpenOptions::default()
        },
    )
}

pub fn run(args: &Args) -> ExitCode {
    if crate::program::is_program(&args.file) {
        return match crate::program::inspect(&args.file, args.json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if args.json => {
                let doc = json!({"ok": false, "error": {"message": e.to_string()}});
                println!("{doc}");
                ExitCode::FAILURE
            }
            Err(e) => crate::fail(&e),
        };
    }
    let ckpt = match open(&args.file) {
        Ok(c) => c,
        Err(e) if args.json => {
            let kind = e
                .checkpoint_kind()
                .map_or("invalid_argument", |k| k.as_str());
            let doc = json!({"ok": false, "error": {"kind": kind, "message": e.to_string()}});
            println!("{doc}");
            return ExitCode::FAILURE;
        }
        Err(e) => return crate::fail(&e),
    };
    let result = if args.json {
        print_json(&ckpt)
    } else {
        print_table(&ckpt)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(&e),
    }
}

fn location(ckpt: &Checkpoint, s: &tensorport::Storage) -> String {
    ckpt.storage_info(s)
        .map_or_else(|| s.device().location_tag(), |i| i.location.clone())
}

fn print_json(ckpt: &Checkpoint) -> tensorport::Result<()> {
    let loc = |s: &tensorport::Storage| location(ckpt, s);
    let key = |s: &tensorport::Storage| ckpt.storage_info(s).map(|i| i.key.clone());
    let mut doc = describe(ckpt.value(), &loc, &key)?;
    if let Some(m) = doc.as_object_mut() {
        m.insert("format".into(), json!(ckpt.format().name()));
    }
    let doc = json!({
        "ok": true,
        "format": ckpt.format().name(),
        "structure": doc["structure"],
        "tensors": doc["tensors"],
    });
    println!("{doc}");
    Ok(())
}

fn print_table(ckpt: &Checkpoint) -> tensorport::Result<()> {
    let mut rows: Vec<[String; 7]> = Vec::new();
    let mut tensor_bytes = 0usize;
    ckpt.value().visit_tensors(&mut |path, t| {
        let bytes = t.numel() * t.dtype().size();
        tensor_bytes += bytes;
        rows.push([
            path.join("/"),
            t.dtype().to_string(),
            format!("{:?}", t.shape()),
            format!("{:?}", t.strides()),
            t.storage_offset().to_string(),
            location(ckpt, t.storage()),
            bytes.to_string(),
        ]);
    });
    let header = [
        "key", "dtype", "shape", "stride", "offset", "location", "bytes",
    ];
    let mut width = header.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let line = |out: &mut dyn Write, cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            if i == 6 || i == 4 {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
            s.push_str("  ");
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(&mut out, &header.map(String::from));
    for r in &rows {
        line(&mut out, r);
    }
    let storage_bytes: usize = ckpt.storages().iter().map(|s| s.storage.nbytes()).sum();
    let top = match ckpt.value() {
        Value::Dict(d) => format!(
            "{} with {} keys ({})",
            ckpt.value().type_name(),
            d.len(),
            d.iter()
                .take(4)
                .map(|(k, _)| k.key_text())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        v => v.type_name().to_string(),
    };
    let _ = writeln!(
        out,
        "\n{} tensors, {} bytes of tensor data in {} storages ({} bytes); format {}; top level: {}",
        rows.len(),
        tensor_bytes,
        ckpt.storages().len(),
        storage_bytes,
        ckpt.format().name(),
        top
    );
    Ok(())
}
