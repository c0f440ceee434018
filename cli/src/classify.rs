//! The classifier's answer as a person reads it: the top classes of each input with their
//! probabilities. All of `run`'s per-image output goes through [`print_top`], so another
//! output format (JSON) has one place to start from.

use std::path::Path;

use tensorport::ops::softmax;
use tensorport::{DType, Error, Result, Tensor};

/// How many classes to show and what to call them.
pub struct Classes {
    /// Classes shown per input.
    pub top: usize,
    /// Names by class index (one per line of `--labels`), if any.
    pub labels: Option<Vec<String>>,
    /// One JSON document on stdout instead of lines for people (`--json`).
    pub json: bool,
}

/// The top classes of each row as JSON: `[{"input", "top": [{"class", "label", "probability"}]}]`.
pub fn top_json(probs: &[f32], c: usize, names: &[String], classes: &Classes) -> serde_json::Value {
    let k = classes.top.min(c);
    let rows: Vec<serde_json::Value> = probs
        .chunks(c.max(1))
        .enumerate()
        .map(|(i, row)| {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let top: Vec<serde_json::Value> = idx
                .iter()
                .take(k)
                .map(|&j| {
                    let label = classes.labels.as_ref().and_then(|l| l.get(j));
                    serde_json::json!({"class": j, "label": label, "probability": row[j]})
                })
                .collect();
            let name = names.get(i).map_or_else(|| format!("#{i}"), Clone::clone);
            serde_json::json!({"input": name, "top": top})
        })
        .collect();
    serde_json::Value::Array(rows)
}

/// The most a labels file may hold (ImageNet-21k's 21841 names are about 400 KB).
const MAX_LABELS_BYTES: u64 = 16 << 20;

/// Reads a labels file: one class name per line, in class order (surrounding blanks trimmed,
/// so a CRLF file reads the same).
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    use std::io::Read;
    let io = |op, source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(|e| io("opening", e))?
        .take(MAX_LABELS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| io("reading", e))?;
    if text.len() as u64 > MAX_LABELS_BYTES {
        return Err(Error::InvalidArgument {
            op: "run",
            name: "--labels",
            reason: format!("{} is over {MAX_LABELS_BYTES} bytes", path.display()),
        });
    }
    let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while labels.last().is_some_and(String::is_empty) {
        labels.pop();
    }
    Ok(labels)
}

/// Per-row probabilities of a `[N, C]` float32 output: the values themselves when every row
/// already is a distribution (a softmax head), else their softmax. `None` for any other output.
pub fn probabilities(y: &Tensor) -> Result<Option<(usize, Vec<f32>)>> {
    let [_, c] = *y.shape() else {
        return Ok(None);
    };
    if c < 2 || y.dtype() != DType::F32 {
        return Ok(None);
    }
    let v = y.to_vec::<f32>()?;
    let is_probs = v.iter().all(|p| (0.0..=1.0).contains(p))
        && v.chunks(c)
            .all(|r| (r.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    let probs = if is_probs {
        v
    } else {
        softmax(y, -1)?.to_vec::<f32>()?
    };
    Ok(Some((c, probs)))
}

/// Prints the `classes.top` most probable classes of each row of `probs` (`c` per row), under
/// the input's name (`names[i]`, or its index).
pub fn print_top(probs: &[f32], c: usize, names: &[String], classes: &Classes) {
    if let Some(l) = &classes.labels {
        if l.len() != c {
            eprintln!(
                "note: the labels file names {} classes, the model has {c}",
                l.len()
            );
        }
    }
    let k = classes.top.min(c);
    for (i, row) in probs.chunks(c).enumerate() {
        let name = names.get(i).map_or_else(|| format!("#{i}"), Clone::clone);
        println!("  [{i}] {name}  top-{k}:");
        let mut idx: Vec<usize> = (0..c).collect();
        // A stable sort: classes of equal probability stay in index order.
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        for &j in idx.iter().take(k) {
            let label = classes
                .labels
                .as_ref()
                .and_then(|l| l.get(j))
                .map_or(String::new(), |s| format!("  {s}"));
            println!("      {:>7.3}%  {j:>5}{label}", row[j] * 100.0);
        }
    }
}
