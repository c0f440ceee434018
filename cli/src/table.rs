//! The table `tensorport inspect` prints: one row per tensor mention, walking each shared
//! container once (a container met again is one "same object as" line, when it holds
//! tensors), at most [`MAX_ROWS`] rows, and key texts cut to a few hundred characters, so that
//! a file of a few KB cannot make gigabytes of table.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write;

use tensorport::checkpoint::Checkpoint;
use tensorport::{DType, Value};
use tensorport_cli::describe::{cut_step, dims, int_text};

/// Rows printed; the summary still counts every tensor.
pub const MAX_ROWS: usize = 10_000;

enum Row {
    Tensor([String; 7]),
    /// A container met again: its path and the path where it was first shown.
    Same(String, String),
}

#[derive(PartialEq, Eq, Hash)]
struct View(usize, DType, Vec<usize>, Vec<usize>, usize, bool, bool);

struct Walk<'a> {
    ckpt: &'a Checkpoint,
    rows: Vec<Row>,
    max_rows: usize,
    not_shown: usize,
    views: HashSet<View>,
    tensor_bytes: u128,
    /// (kind, address) of each container walked → its path when it holds tensors, and how
    /// many tensor mentions it holds, expanded.
    seen: HashMap<(u8, usize), (Option<String>, u128)>,
    /// Texts of big-int keys by address (they can be long, and shared by many dicts).
    int_texts: HashMap<usize, String>,
}

fn container_id(v: &Value) -> Option<(u8, usize)> {
    match v {
        Value::List(a) if !a.is_empty() => Some((0, a.as_ptr() as usize)),
        Value::Tuple(a) if !a.is_empty() => Some((1, a.as_ptr() as usize)),
        Value::Set(a) if !a.is_empty() => Some((2, a.as_ptr() as usize)),
        Value::Dict(d) if !d.is_empty() => Some((3, std::sync::Arc::as_ptr(d) as usize)),
        _ => None,
    }
}

/// Longest key path printed, in bytes, before it ends in `/...`.
const MAX_PATH_TEXT: usize = 256;

/// The `/`-joined path, cut after [`MAX_PATH_TEXT`] bytes (steps are whole, or cut already).
fn path_text(path: &[String]) -> String {
    let mut s = String::new();
    for (i, step) in path.iter().enumerate() {
        if s.len() > MAX_PATH_TEXT {
            s.push_str("/...");
            break;
        }
        if i > 0 {
            s.push('/');
        }
        s.push_str(step);
    }
    s
}

pub fn location(ckpt: &Checkpoint, s: &tensorport::Storage) -> String {
    ckpt.storage_info(s)
        .map_or_else(|| s.device().location_tag(), |i| i.location.clone())
}

impl Walk<'_> {
    /// Whether another row fits; counts the ones that do not.
    fn room(&mut self) -> bool {
        if self.rows.len() < self.max_rows {
            return true;
        }
        self.not_shown += 1;
        false
    }

    /// Walks `v`; returns how many tensor mentions it holds, shared containers expanded.
    fn walk(&mut self, v: &Value, path: &mut Vec<String>) -> u128 {
        if let Value::Tensor(t) = v {
            let bytes = t.numel() as u128 * t.dtype().size() as u128;
            let view = View(
                t.storage().id(),
                t.dtype(),
                t.shape().to_vec(),
                t.strides().to_vec(),
                t.storage_offset(),
                t.requires_grad(),
                t.is_parameter(),
            );
            if self.views.insert(view) {
                self.tensor_bytes += bytes;
            }
            if !self.room() {
                return 1;
            }
            let row = [
                path_text(path),
                t.dtype().to_string(),
                dims(t.shape()),
                dims(t.strides()),
                t.storage_offset().to_string(),
                location(self.ckpt, t.storage()),
                bytes.to_string(),
            ];
            self.rows.push(Row::Tensor(row));
            return 1;
        }
        let Some(id) = container_id(v) else {
            return 0;
        };
        if let Some((first, n)) = self.seen.get(&id) {
            let (first, n) = (first.clone(), *n);
            if let Some(first) = first {
                if self.room() {
                    self.rows.push(Row::Same(path_text(path), first));
                }
            }
            return n;
        }
        self.seen.insert(id, (None, 0));
        let mut holds = 0u128;
        match v {
            Value::List(a) | Value::Tuple(a) | Value::Set(a) => {
                for (i, it) in a.iter().enumerate() {
                    path.push(i.to_string());
                    holds = holds.saturating_add(self.walk(it, path));
                    path.pop();
                }
            }
            Value::Dict(d) => {
                for (k, val) in d.iter() {
                    let step = self.key_text(k);
                    path.push(format!("{step}#key"));
                    holds = holds.saturating_add(self.walk(k, path));
                    path.pop();
                    path.push(step);
                    holds = holds.saturating_add(self.walk(val, path));
                    path.pop();
                }
                if let Some(meta) = d.attr("_metadata") {
                    path.push("#metadata".into());
                    holds = holds.saturating_add(self.walk(meta, path));
                    path.pop();
                }
            }
            _ => {}
        }
        let first = (holds > 0).then(|| path_text(path));
        self.seen.insert(id, (first, holds));
        holds
    }

    /// A key as a path step: a str as is, an int in decimal (hex past 4300 digits), anything
    /// else in a Python-like form; at most a few hundred characters.
    fn key_text(&mut self, k: &Value) -> String {
        let mut s = String::new();
        self.repr(k, &mut s);
        match k {
            // Already cut, with their whole length.
            Value::Str(_) | Value::BigInt(_) => s,
            _ => cut_step(&s),
        }
    }

    fn repr(&mut self, v: &Value, out: &mut String) {
        // Enough to cut at 200 characters, and bounded whatever the key's size.
        if out.len() > 4 * 200 {
            return;
        }
        match v {
            Value::Str(s) if out.is_empty() => out.push_str(&cut_step(s)),
            Value::Str(s) => {
                let _ = write!(out, "'{}'", cut_step(s));
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::BigInt(b) => {
                let text = self
                    .int_texts
                    .entry(b.as_ptr() as usize)
                    .or_insert_with(|| match int_text(b) {
                        Ok(("int_hex", t)) if t.starts_with('-') => format!("-0x{}", &t[1..]),
                        Ok(("int_hex", t)) => format!("0x{t}"),
                        Ok((_, t)) => t,
                        Err(_) => "<int>".into(),
                    });
                out.push_str(&cut_step(text));
            }
            Value::Tuple(items) => {
                out.push('(');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if out.len() > 4 * 200 {
                        break;
                    }
                    self.repr(it, out);
                }
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Value::None => out.push_str("None"),
            Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
            Value::Float(x) => {
                let _ = write!(out, "{x}");
            }
            other => out.push_str(other.type_name()),
        }
    }
}

/// Tensor mentions (shared containers expanded, as torch holds them), distinct views and
/// their bytes, walking each shared container once.
pub fn count(ckpt: &Checkpoint) -> (u128, usize, u128) {
    let mut w = Walk::new(ckpt, 0);
    let n = w.walk(ckpt.value(), &mut Vec::new());
    (n, w.views.len(), w.tensor_bytes)
}

impl<'a> Walk<'a> {
    fn new(ckpt: &'a Checkpoint, max_rows: usize) -> Walk<'a> {
        Walk {
            ckpt,
            rows: Vec::new(),
            max_rows,
            not_shown: 0,
            views: HashSet::new(),
            tensor_bytes: 0,
            seen: HashMap::new(),
            int_texts: HashMap::new(),
        }
    }
}

/// Storages and their bytes for one dtype on one saved location.
pub struct Total {
    pub dtype: String,
    pub location: String,
    pub storages: usize,
    pub bytes: u128,
}

/// Storage counts and bytes per (dtype, saved location), largest first.
pub fn totals(ckpt: &Checkpoint) -> Vec<Total> {
    let mut by: std::collections::BTreeMap<(String, String), (usize, u128)> = Default::default();
    for s in ckpt.storages() {
        let dtype = s
            .dtype
            .map_or_else(|| "untyped".to_string(), |d| d.to_string());
        let e = by.entry((dtype, location(ckpt, &s.storage))).or_default();
        e.0 += 1;
        e.1 += s.storage.nbytes() as u128;
    }
    let mut out: Vec<Total> = by
        .into_iter()
        .map(|((dtype, location), (storages, bytes))| Total {
            dtype,
            location,
            storages,
            bytes,
        })
        .collect();
    out.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    out
}

pub fn print(ckpt: &Checkpoint) -> tensorport::Result<()> {
    let mut w = Walk::new(ckpt, MAX_ROWS);
    let expanded = w.walk(ckpt.value(), &mut Vec::new());
    let header = [
        "key", "dtype", "shape", "stride", "offset", "location", "bytes",
    ];
    let mut width = header.map(str::len);
    for r in &w.rows {
        if let Row::Tensor(r) = r {
            for (wd, c) in width.iter_mut().zip(r) {
                *wd = (*wd).max(c.chars().count());
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let line = |out: &mut dyn Write, cells: &[String]| {
        let mut s = String::new();
        for (i, (c, wd)) in cells.iter().zip(width).enumerate() {
            let pad = " ".repeat(wd.saturating_sub(c.chars().count()));
            if i == 6 || i == 4 {
                s.push_str(&pad);
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&pad);
            }
            s.push_str("  ");
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(&mut out, &header.map(String::from));
    for r in &w.rows {
        match r {
            Row::Tensor(cells) => line(&mut out, cells),
            Row::Same(path, first) => {
                let pad = " ".repeat(width[0].saturating_sub(path.chars().count()));
                let _ = writeln!(out, "{path}{pad}  same object as {first}");
            }
        }
    }
    if w.not_shown > 0 {
        let _ = writeln!(
            out,
            "... {} more rows not shown (the table stops at {MAX_ROWS} rows; inspect --json \
             describes every distinct object)",
            w.not_shown
        );
    }
    let storage_bytes: u128 = ckpt
        .storages()
        .iter()
        .map(|s| s.storage.nbytes() as u128)
        .sum();
    let top = match ckpt.value() {
        Value::Dict(d) => {
            let keys: Vec<String> = d.iter().take(4).map(|(k, _)| w.key_text(k)).collect();
            format!(
                "{} with {} keys ({})",
                ckpt.value().type_name(),
                d.len(),
                keys.join(", ")
            )
        }
        v => v.type_name().to_string(),
    };
    let distinct = if w.views.len() as u128 == expanded {
        String::new()
    } else {
        format!(" ({} distinct views)", w.views.len())
    };
    let _ = writeln!(
        out,
        "\n{} tensors{distinct}, {} bytes of tensor data in {} storages ({} bytes); format {}; \
         top level: {}",
        expanded,
        w.tensor_bytes,
        ckpt.storages().len(),
        storage_bytes,
        ckpt.format().name(),
        top
    );
    let totals = totals(ckpt);
    if !totals.is_empty() {
        let _ = writeln!(out, "by dtype and location:");
        for t in &totals {
            let _ = writeln!(
                out,
                "  {:<10} {:<10} {:>6} storages {:>14} bytes",
                t.dtype, t.location, t.storages, t.bytes
            );
        }
    }
    if let Some(m) = ckpt.metadata() {
        let _ = writeln!(out, "__metadata__:");
        for (k, v) in m.iter().take(MAX_ROWS) {
            let _ = writeln!(out, "  {} = {}", crate::one_line(k), crate::one_line(v));
        }
    }
    Ok(())
}
