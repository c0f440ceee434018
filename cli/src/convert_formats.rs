//! `convert` across formats: which format a file is (from its bytes), what of it a format can
//! hold, and what the conversion did (the report `convert` prints, or `--json`).
//!
//! To safetensors, only a flat dict of tensors can go: a training checkpoint's other entries
//! are refused naming them (pass `--key`), tensors sharing memory are deduplicated the way
//! `safetensors.torch.save_model` does it (one name kept, the others recorded in
//! `__metadata__`), non-contiguous tensors are refused naming them unless `--contiguous`.
//! From safetensors to `.pt`, those `__metadata__` records are turned back into shared
//! tensors (what `load_model` does with them), and any other metadata, which a `.pt` state
//! dict cannot hold, is named in the report.

use std::path::{Path, PathBuf};

use serde_json::json;
use tensorport::checkpoint::{save_safetensors, Checkpoint, Format, SafetensorsOptions};
use tensorport::checkpoint::{SharedPolicy, STATE_DICT_KEYS};
use tensorport::graph::{is_program_file, program_state_dict};
use tensorport::{Error, MapLocation, Result, StateDict, Value};

use crate::convert::{open_checked, Args};

/// An opened input.
pub(crate) enum Input {
    /// A torch.save checkpoint (zip or legacy).
    Checkpoint(Checkpoint),
    /// A safetensors file.
    Safetensors(Checkpoint),
    /// A torch.export program's tensors.
    Program(StateDict),
}

impl Input {
    fn format(&self) -> &'static str {
        match self {
            Input::Checkpoint(c) => c.format().name(),
            Input::Safetensors(_) => "safetensors",
            Input::Program(_) => "pt2",
        }
    }
}

/// Opens `path` as what its bytes say it is.
pub(crate) fn open_input(path: &Path) -> Result<Input> {
    let program = is_program_file(path)?;
    if program {
        return Ok(Input::Program(program_state_dict(
            path,
            &MapLocation::To(tensorport::Device::Cpu),
        )?));
    }
    let ckpt = open_checked(path)?;
    Ok(match ckpt.format() {
        Format::Safetensors => Input::Safetensors(ckpt),
        _ => Input::Checkpoint(ckpt),
    })
}

fn refuse(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument {
        op: "convert",
        name,
        reason,
    }
}

/// The flat dict of tensors a safetensors file can hold.
pub(crate) fn state_dict_for_safetensors(input: &Input, key: Option<&str>) -> Result<StateDict> {
    let ckpt = match input {
        Input::Program(sd) if key.is_none() => return Ok(sd.clone()),
        Input::Program(_) => {
            return Err(refuse(
                "--key",
                "a .pt2's tensors are one flat dict; --key does not apply".into(),
            ))
        }
        Input::Safetensors(c) | Input::Checkpoint(c) => c,
    };
    if let Some(k) = key {
        return ckpt.state_dict_at(k);
    }
    let value = ckpt.value();
    if let Ok(sd) = StateDict::from_value(value) {
        return Ok(sd);
    }
    let Some(d) = value.as_dict() else {
        return Err(refuse(
            "input",
            format!(
                "the checkpoint holds a {}, not a dict of tensors; safetensors holds only named \
                 tensors",
                value.type_name()
            ),
        ));
    };
    let found = STATE_DICT_KEYS.iter().find(|k| {
        d.get_str(k)
            .is_some_and(|v| StateDict::from_value(v).is_ok())
    });
    // The first entry safetensors cannot hold, named, so the user knows what would be lost.
    let other = d
        .iter()
        .find(|(k, v)| {
            let is_found = found.is_some_and(|f| k.as_str() == Some(f));
            !is_found && (v.as_tensor().is_none() || k.as_str().is_none())
        })
        .map_or_else(
            || "an entry that is not a named tensor".to_string(),
            |(k, v)| format!("'{}' ({})", crate::one_line(&k.key_text()), v.type_name()),
        );
    Err(refuse(
        "input",
        match found {
            Some(k) => format!(
                "the checkpoint holds more than a state dict (e.g. {other}), which safetensors \
                 cannot hold; pass --key {k} to write that state dict alone"
            ),
            None => format!(
                "entry {other} is not a tensor and no state dict is found under a usual key; \
                 safetensors holds only named tensors: pass --key PATH to the dict to write"
            ),
        },
    ))
}

/// The value a `.pt` written from a safetensors file or a program holds: its state dict, with
/// the shared names a safetensors `__metadata__` records restored.
pub(crate) fn value_for_pt(input: &Input, report: &mut Report) -> Result<Value> {
    let sd = match input {
        Input::Checkpoint(c) => return Ok(c.value().clone()),
        Input::Program(sd) => return Ok(sd.to_value()),
        Input::Safetensors(c) => c,
    };
    let mut sd = sd.state_dict()?;
    for (k, v) in c_meta(input) {
        match (sd.get(&k).is_none(), sd.get(&v).cloned()) {
            (true, Some(t)) => {
                sd.insert(&k, t);
                report.restored.push((k, v));
            }
            _ => report.not_carried.push(format!("__metadata__ {k}={v}")),
        }
    }
    Ok(sd.to_value())
}

fn c_meta(input: &Input) -> Vec<(String, String)> {
    match input {
        Input::Safetensors(c) => c.metadata().map(<[_]>::to_vec).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Writes `sd` as safetensors at `args.output`.
pub(crate) fn write_safetensors(input: &Input, sd: &StateDict, args: &Args) -> Result<Report> {
    let mut metadata = c_meta(input);
    for kv in &args.metadata {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| refuse("--metadata", format!("{kv:?} is not KEY=VALUE")))?;
        metadata.retain(|(old, _)| old != k);
        metadata.push((k.to_string(), v.to_string()));
    }
    let bar = crate::progress::Bar::bytes(&format!("writing {}", args.output.display()));
    let opts = SafetensorsOptions {
        metadata,
        shared: SharedPolicy::Dedupe,
        force_contiguous: args.contiguous,
        progress: bar.callback(),
    };
    let mut report = Report::new(input, &args.output, "safetensors").with_input(&args.input);
    let saved = save_safetensors(sd, &args.output, &opts);
    bar.finish();
    report.deduplicated = saved?;
    if sd.metadata().is_some() {
        report.not_carried.push(
            "the state dict's _metadata (module versions), which safetensors has no place for \
             (safetensors.torch.save_file drops it too)"
                .into(),
        );
    }
    let gone: std::collections::HashSet<&str> = report
        .deduplicated
        .iter()
        .map(|(g, _)| g.as_str())
        .collect();
    for (name, t) in sd.iter() {
        if !gone.contains(name) {
            report.tensors += 1;
            report.bytes += (t.numel() * t.dtype().size()) as u128;
        }
    }
    Ok(report)
}

/// What a conversion did.
pub(crate) struct Report {
    input: PathBuf,
    input_format: &'static str,
    output: PathBuf,
    output_format: &'static str,
    pub tensors: usize,
    pub bytes: u128,
    /// `(dropped, kept)`: names written once because they share memory.
    pub deduplicated: Vec<(String, String)>,
    /// `(name, of)`: shared names restored from safetensors metadata.
    pub restored: Vec<(String, String)>,
    /// What the output format could not hold.
    pub not_carried: Vec<String>,
}

impl Report {
    pub(crate) fn new(input: &Input, output: &Path, output_format: &'static str) -> Report {
        Report {
            input: PathBuf::new(),
            input_format: input.format(),
            output: output.to_path_buf(),
            output_format,
            tensors: 0,
            bytes: 0,
            deduplicated: Vec::new(),
            restored: Vec::new(),
            not_carried: Vec::new(),
        }
    }

    pub(crate) fn with_input(mut self, path: &Path) -> Report {
        self.input = path.to_path_buf();
        self
    }

    /// Counts the distinct tensors (by storage view) of a `.pt` output.
    pub(crate) fn count(&mut self, value: &Value) {
        let mut seen = std::collections::HashSet::new();
        value.visit_tensors(&mut |_, t| {
            if seen.insert((t.storage().id(), t.storage_offset(), t.shape().to_vec())) {
                self.tensors += 1;
                self.bytes += (t.numel() * t.dtype().size()) as u128;
            }
        });
    }

    pub(crate) fn print(&self, as_json: bool, quiet: bool) {
        let pairs = |v: &[(String, String)]| -> Vec<serde_json::Value> {
            v.iter().map(|(a, b)| json!([a, b])).collect()
        };
        if as_json {
            let doc = json!({
                "ok": true,
                "input": self.input.display().to_string(),
                "input_format": self.input_format,
                "output": self.output.display().to_string(),
                "output_format": self.output_format,
                "tensors": self.tensors,
                "bytes": self.bytes as u64,
                "deduplicated": pairs(&self.deduplicated),
                "restored_shared": pairs(&self.restored),
                "not_carried": self.not_carried,
            });
            println!("{doc}");
            return;
        }
        println!(
            "wrote {} ({}, from {} {}): {} tensors, {} bytes",
            self.output.display(),
            self.output_format,
            self.input_format,
            self.input.display(),
            self.tensors,
            self.bytes
        );
        if quiet {
            return;
        }
        for (gone, kept) in &self.deduplicated {
            eprintln!(
                "note: {} shares memory with {}: written once, recorded in __metadata__",
                crate::one_line(gone),
                crate::one_line(kept)
            );
        }
        for (name, of) in &self.restored {
            eprintln!(
                "note: {} restored as a shared tensor of {} (from __metadata__)",
                crate::one_line(name),
                crate::one_line(of)
            );
        }
        for n in &self.not_carried {
            eprintln!(
                "note: not carried to {}: {}",
                self.output_format,
                crate::one_line(n)
            );
        }
    }
}
