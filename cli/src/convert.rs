//! `tensorport convert IN OUT [--to pt|safetensors] [--map-location M] [--strip-prefix P]
//! [--add-prefix P] [--key K] [--contiguous] [--metadata K=V]...`: between `.pt` (zip or
//! legacy in, zip out), `.safetensors` and `.pt2` (its weights, in only). The input's format
//! comes from its bytes; the output's from `--to` or OUT's extension. What a format cannot hold
//! is handled as the safetensors Python library does or refused naming the key
//! (`convert_formats.rs`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tensorport::checkpoint::{add_prefix, strip_prefix, STATE_DICT_KEYS};
use tensorport::checkpoint::{save_with, Checkpoint, OpenOptions, SaveOptions};
use tensorport::{Error, MapLocation, Result, StateDict, Storage, Value};

use crate::convert_formats::{self as formats, Report};

#[derive(clap::Args)]
pub struct Args {
    /// The file to read: a torch.save checkpoint (zip or legacy), a .safetensors file, or a
    /// torch.export program (.pt2, whose parameters, buffers and constants are read); the
    /// format is taken from the bytes, not the name.
    pub input: PathBuf,
    /// Where to write (atomically: a crash never leaves a half-written file).
    pub output: PathBuf,
    /// The output format: `pt` (torch.save's zip, what torch.load reads) or `safetensors`;
    /// by default from OUT's extension (`.safetensors` → safetensors, anything else → pt).
    #[arg(long, value_parser = ["pt", "safetensors"])]
    pub to: Option<String>,
    /// Retag storages (.pt output): `cpu`, `cuda:N`, or `SRC=DST[,SRC=DST...]` such as
    /// `cuda:1=cuda:0`. Only the saved location tags change; no device is needed.
    #[arg(long)]
    pub map_location: Option<String>,
    /// Remove this prefix from state-dict keys and `_metadata` (e.g. `module.`).
    #[arg(long)]
    pub strip_prefix: Option<String>,
    /// Add this prefix to state-dict keys and `_metadata`.
    #[arg(long)]
    pub add_prefix: Option<String>,
    /// The `/`-separated path of the state dict inside the checkpoint (default: the top level,
    /// or the first of state_dict, model_state_dict, model, module, net, network). Writing
    /// safetensors from a training checkpoint needs it: only the state dict is written.
    #[arg(long)]
    pub key: Option<String>,
    /// Safetensors output: write non-contiguous tensors as packed copies instead of refusing
    /// them (safetensors' force_contiguous).
    #[arg(long)]
    pub contiguous: bool,
    /// Safetensors output: a `__metadata__` entry, KEY=VALUE (repeatable; kept from a
    /// safetensors input unless overridden).
    #[arg(long = "metadata", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Print what was written as one JSON document.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> ExitCode {
    if args.json {
        crate::progress::set_quiet(true);
    }
    match convert(args) {
        Ok(report) => {
            report.print(args.json, crate::progress::quiet());
            ExitCode::SUCCESS
        }
        Err(e) if args.json => crate::inspect::print_json_error(&e),
        Err(e) => crate::fail(&e),
    }
}

fn convert(args: &Args) -> Result<Report> {
    let to_safetensors = match args.to.as_deref() {
        Some(t) => t == "safetensors",
        None => {
            let ext = args.output.extension().and_then(|e| e.to_str());
            if ext == Some("pt2") {
                return Err(Error::InvalidArgument {
                    op: "convert",
                    name: "output",
                    reason: "a .pt2 holds a program, which convert cannot make from weights; \
                             write .pt or .safetensors (or pass --to)"
                        .into(),
                });
            }
            ext == Some("safetensors")
        }
    };
    let input = formats::open_input(&args.input)?;
    if to_safetensors {
        if args.map_location.is_some() {
            return Err(Error::InvalidArgument {
                op: "convert",
                name: "--map-location",
                reason: "safetensors files record no device; it applies to .pt output".into(),
            });
        }
        let mut sd = formats::state_dict_for_safetensors(&input, args.key.as_deref())?;
        if let Some(p) = &args.strip_prefix {
            sd.strip_prefix(p)?;
        }
        if let Some(p) = &args.add_prefix {
            sd.add_prefix(p)?;
        }
        return formats::write_safetensors(&input, &sd, args);
    }
    let mut report = Report::new(&input, &args.output, "pt").with_input(&args.input);
    let value = formats::value_for_pt(&input, &mut report)?;
    let ckpt = match &input {
        formats::Input::Checkpoint(c) => Some(c),
        _ => None,
    };
    let value = retag_prefixes(value, args)?;
    write_pt(&value, ckpt, args)?;
    report.count(&value);
    Ok(report)
}

fn retag_prefixes(mut value: Value, args: &Args) -> Result<Value> {
    if args.strip_prefix.is_some() || args.add_prefix.is_some() {
        let path = match &args.key {
            Some(k) => k.split('/').map(str::to_string).collect(),
            None => state_dict_path(&value)?,
        };
        value = replace_at(&value, &path, &|d| {
            let mut d = d.clone();
            if let Some(p) = &args.strip_prefix {
                d = strip_prefix(&d, p)?;
            }
            if let Some(p) = &args.add_prefix {
                d = add_prefix(&d, p)?;
            }
            Ok(d)
        })?;
    }
    Ok(value)
}

fn write_pt(value: &Value, ckpt: Option<&Checkpoint>, args: &Args) -> Result<()> {
    let map = args
        .map_location
        .as_deref()
        .map(MapLocation::parse)
        .transpose()?;
    let location = |s: &Storage| -> String {
        let saved = ckpt
            .and_then(|c| c.storage_info(s))
            .map_or_else(|| s.device().location_tag(), |i| i.location.clone());
        match &map {
            Some(m) => m.retag(&saved),
            None => saved,
        }
    };
    check_locations(value, &|s| {
        let key = ckpt.and_then(|c| c.storage_info(s)).map(|i| i.key.clone());
        (location(s), key)
    })?;
    let bar = crate::progress::Bar::bytes(&format!("writing {}", args.output.display()));
    let progress = |done, total| bar.set(done, total);
    let saved = save_with(
        value,
        &args.output,
        &SaveOptions {
            location_of: Some(&location),
            progress: Some(&progress),
        },
    );
    bar.finish();
    saved
}

/// Opens a torch.save checkpoint or safetensors file with every record checked, storages left
/// on the host with their saved tags.
pub(crate) fn open_checked(path: &std::path::Path) -> Result<Checkpoint> {
    let bar = crate::progress::Bar::bytes(&format!("reading {}", path.display()));
    let opened = Checkpoint::open_with(
        path,
        &OpenOptions {
            verify_crc: true,
            progress: bar.callback(),
            ..OpenOptions::default()
        },
    );
    bar.finish();
    opened
}

/// Where the state dict is when `--key` is not given.
pub(crate) fn state_dict_path(value: &Value) -> Result<Vec<String>> {
    if StateDict::from_value(value).is_ok() {
        return Ok(vec![]);
    }
    if let Some(d) = value.as_dict() {
        for k in STATE_DICT_KEYS {
            if d.get_str(k)
                .is_some_and(|v| StateDict::from_value(v).is_ok())
            {
                return Ok(vec![k.to_string()]);
            }
        }
    }
    Err(Error::NotFound {
        what: "state dict",
        key: "no dict of str -> tensor at the top level or under a usual key; pass --key".into(),
    })
}

/// A copy of `value` with the dict at `path` replaced by `f(dict)`; everything else is shared.
fn replace_at(
    value: &Value,
    path: &[String],
    f: &dyn Fn(&tensorport::Dict) -> Result<tensorport::Dict>,
) -> Result<Value> {
    let d = value.as_dict().ok_or_else(|| Error::ValueType {
        path: path.join("/"),
        expected: "dict",
        got: value.type_name(),
    })?;
    let Some((first, rest)) = path.split_first() else {
        return Ok(Value::Dict(Arc::new(f(d)?)));
    };
    let mut out = d.clone();
    let child = value.get_path(&[first])?;
    let key = d
        .iter()
        .map(|(k, _)| k)
        .find(|k| {
            k.as_str() == Some(first.as_str())
                || k.as_int().map(|i| i.to_string()).as_deref() == Some(first)
        })
        .cloned()
        .ok_or_else(|| Error::NotFound {
            what: "key",
            key: first.clone(),
        })?;
    out.insert(key, replace_at(child, rest, f)?)?;
    Ok(Value::Dict(Arc::new(out)))
}

/// Refuses to write a storage whose location torch.load cannot restore, naming the first
/// tensor that uses it. Walks each shared container once.
fn check_locations(
    value: &Value,
    tag_of: &dyn Fn(&Storage) -> (String, Option<String>),
) -> Result<()> {
    let mut seen_storages = HashSet::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<(&Value, String)> = vec![(value, String::new())];
    while let Some((v, path)) = stack.pop() {
        // Only the first tensor's path is printed, so deep paths stop growing (bounded work).
        let join = |step: &str| {
            if path.is_empty() {
                step.to_string()
            } else if path.len() > 256 {
                path.clone()
            } else {
                format!("{path}/{step}")
            }
        };
        match v {
            Value::Tensor(t) => {
                if !seen_storages.insert(t.storage().id()) {
                    continue;
                }
                let (tag, key) = tag_of(t.storage());
                if !tensorport::checkpoint::location_restorable(&tag) {
                    let at = if path.is_empty() {
                        "the top-level tensor".to_string()
                    } else {
                        format!("tensor '{}'", tensorport_cli::describe::cut_step(&path))
                    };
                    let record = key.map_or_else(String::new, |k| format!(" (record data/{k})"));
                    return Err(Error::InvalidArgument {
                        op: "convert",
                        name: "location",
                        reason: format!(
                            "{at}{record} is saved on '{}', which torch.load cannot restore; \
                             retag it, e.g. --map-location cpu or --map-location '{}=cpu'",
                            tensorport_cli::describe::cut_step(&tag),
                            tensorport_cli::describe::cut_step(&tag)
                        ),
                    });
                }
            }
            Value::List(a) | Value::Tuple(a) | Value::Set(a)
                if seen.insert(a.as_ptr() as usize) =>
            {
                for (i, it) in a.iter().enumerate().rev() {
                    stack.push((it, join(&i.to_string())));
                }
            }
            Value::Dict(d) if seen.insert(Arc::as_ptr(d) as usize) => {
                if let Some(meta) = d.attr("_metadata") {
                    stack.push((meta, join("#metadata")));
                }
                for (k, it) in d.iter().collect::<Vec<_>>().into_iter().rev() {
                    let step = match k {
                        Value::Str(s) => tensorport_cli::describe::cut_step(s),
                        Value::Int(i) => i.to_string(),
                        other => other.type_name().to_string(),
                    };
                    stack.push((it, join(&step)));
                    stack.push((k, join(&format!("{step}#key"))));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
