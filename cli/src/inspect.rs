//! `tensorport inspect FILE [--json]`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use tensorport::checkpoint::{Checkpoint, OpenOptions};
use tensorport_cli::describe::describe;

#[derive(clap::Args)]
pub struct Args {
    /// A torch.save checkpoint (.pt, .pth, .bin; zip or legacy), a .safetensors file, or a
    /// torch.export program (.pt2); the format is read from the bytes.
    file: PathBuf,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

fn open(file: &PathBuf) -> tensorport::Result<Checkpoint> {
    // Host only: inspecting a cuda:1 checkpoint needs no GPU. CRCs are checked, since the
    // description hashes every tensor anyway.
    let bar = crate::progress::Bar::bytes(&format!("reading {}", file.display()));
    let opened = Checkpoint::open_with(
        file,
        &OpenOptions {
            verify_crc: true,
            progress: bar.callback(),
            ..OpenOptions::default()
        },
    );
    bar.finish();
    opened
}

pub fn run(args: &Args) -> ExitCode {
    if args.json {
        crate::progress::set_quiet(true);
    }
    // The format comes from the bytes (a .pt2 is a zip with an archive_format record).
    // The extension still counts when the bytes cannot tell (a truncated archive).
    if crate::program::is_program(&args.file)
        || tensorport::graph::is_program_file(&args.file).unwrap_or(false)
    {
        let spinner = crate::progress::Spinner::start(&format!("loading {}", args.file.display()));
        let inspected = crate::program::inspect(&args.file, args.json);
        spinner.finish();
        return match inspected {
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
        Err(e) if args.json => return print_json_error(&e),
        Err(e) => return crate::fail(&e),
    };
    let result = if args.json {
        print_json(&ckpt)
    } else {
        crate::table::print(&ckpt)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if args.json => print_json_error(&e),
        Err(e) => crate::fail(&e),
    }
}

/// Prints the `inspect --json` document of an opened checkpoint (`load --json` too).
pub fn print_json(ckpt: &Checkpoint) -> tensorport::Result<()> {
    let loc = |s: &tensorport::Storage| crate::table::location(ckpt, s);
    let key = |s: &tensorport::Storage| ckpt.storage_info(s).map(|i| i.key.clone());
    let mut doc = describe(ckpt.value(), &loc, &key)?;
    let mut out = json!({
        "ok": true,
        "format": ckpt.format().name(),
        "totals": crate::table::totals(ckpt)
            .iter()
            .map(|t| json!({"dtype": t.dtype, "location": t.location, "storages": t.storages, "bytes": t.bytes as u64}))
            .collect::<Vec<_>>(),
    });
    if let Some(m) = ckpt.metadata() {
        out["metadata"] = m.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    }
    if let (Some(o), Some(d)) = (out.as_object_mut(), doc.as_object_mut()) {
        for k in ["structure", "tensors", "truncated"] {
            if let Some(v) = d.remove(k) {
                o.insert(k.into(), v);
            }
        }
    }
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let _ = serde_json::to_writer(&mut w, &out);
    let _ = writeln!(w);
    Ok(())
}

/// The `{"ok": false, ...}` document for an error, printed on stdout.
pub fn print_json_error(e: &tensorport::Error) -> ExitCode {
    let kind = e
        .checkpoint_kind()
        .map_or("invalid_argument", |k| k.as_str());
    let doc = json!({"ok": false, "error": {"kind": kind, "message": e.to_string()}});
    println!("{doc}");
    ExitCode::FAILURE
}
