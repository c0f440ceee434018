//! [`Program`]: a `torch.export` program loaded from its `.pt2` archive, ready to run.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::MmapOptions;

use crate::checkpoint::{MapLocation, Value};
use crate::device::Device;
use crate::error::{CheckpointError, Error, Result};
use crate::graph::budget::ProgramOptions;
use crate::graph::exec::{self, NodeTime, RunStats};
use crate::graph::fuse;
use crate::graph::ir::{Dim, Graph, TensorSpec};
use crate::graph::{archive, plan, pt2, weights};
use crate::tensor::Tensor;

/// A `torch.export` program (`torch.export.save`'s `.pt2`), its weights placed on one device.
///
/// Loading checks everything the archive alone can show: every op is supported (else
/// [`Error::UnsupportedOp`] names it and its node), every value is defined before it is read,
/// every weight's bytes hold its dtype, shape and strides. [`Program::run`] then takes the
/// forward's tensor arguments and returns its results.
pub struct Program {
    path: PathBuf,
    graph: Graph,
    last: Vec<usize>,
    /// Fed values (weights, buffers, constants) by value id.
    fed: Vec<(usize, Tensor)>,
    device: Device,
    fused: usize,
    folded: usize,
    /// Elements of the archive's parameters and bytes of all its fed tensors, counted before
    /// planning (folding replaces some of them).
    parameters: usize,
    weight_bytes: usize,
    samples: Option<Vec<Tensor>>,
    /// The largest value a run may compute (the load's memory budget).
    max_value_bytes: u64,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Program({}, {} nodes on {})",
            self.path.display(),
            self.graph.nodes.len(),
            self.device
        )
    }
}

/// Counts and sizes of a program, for `tensorport inspect`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramSummary {
    /// How many nodes run each op (after planning: `conv2d+relu` is one).
    pub op_counts: BTreeMap<String, usize>,
    /// The exported ATen ops and how often each occurs.
    pub aten_counts: BTreeMap<String, usize>,
    /// Elements in the parameters.
    pub parameters: usize,
    /// Bytes of all weights, buffers and constants.
    pub weight_bytes: usize,
    /// Relus fused into their producers.
    pub fused: usize,
    /// Batch norms folded into the convolutions before them.
    pub folded_batch_norms: usize,
}

/// The file at `path`, mapped read-only (`None` when it is empty).
pub(crate) fn map_file(path: &Path) -> Result<Option<Arc<memmap2::Mmap>>> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: read-only; see Checkpoint::open_with for the truncation caveat.
    let map = unsafe { MmapOptions::new().map(&file) }.map_err(io)?;
    Ok(Some(Arc::new(map)))
}

impl Program {
    /// Reads `path` and places its weights as `map_location` says (torch's rules: `Keep` puts
    /// each where it was saved). All weights must end up on one device, where the program runs.
    pub fn load(path: impl AsRef<Path>, map_location: &MapLocation) -> Result<Program> {
        Program::load_with(path, &ProgramOptions::to(map_location))
    }

    /// [`Program::load`] with explicit options (the memory budget).
    pub fn load_with(path: impl AsRef<Path>, opts: &ProgramOptions) -> Result<Program> {
        let path = path.as_ref();
        Program::from_map(map_file(path)?, path, opts)
    }

    /// Reads a program held in memory (copied into an anonymous map; weights then point there).
    pub fn from_bytes(bytes: &[u8], map_location: &MapLocation) -> Result<Program> {
        Program::from_bytes_with(bytes, &ProgramOptions::to(map_location))
    }

    /// [`Program::from_bytes`] with explicit options.
    pub fn from_bytes_with(bytes: &[u8], opts: &ProgramOptions) -> Result<Program> {
        let map = if bytes.is_empty() {
            None
        } else {
            let mut m =
                memmap2::MmapMut::map_anon(bytes.len()).map_err(|e| Error::OutOfMemory {
                    what: format!("a copy of a {}-byte program ({e})", bytes.len()),
                    bytes: bytes.len(),
                })?;
            m.copy_from_slice(bytes);
            let ro = m.make_read_only().map_err(|e| Error::OutOfMemory {
                what: format!("a read-only copy of a program ({e})"),
                bytes: bytes.len(),
            })?;
            Some(Arc::new(ro))
        };
        Program::from_map(map, Path::new("<memory>"), opts)
    }

    fn from_map(
        map: Option<Arc<memmap2::Mmap>>,
        path: &Path,
        opts: &ProgramOptions,
    ) -> Result<Program> {
        let map_location = &opts.map_location;
        let archive = archive::open(map, opts.max_bytes)?;
        let doc_name = format!("models/{}.json", archive.model);
        let doc = archive.json(&doc_name)?;
        // The graph holds copies of the document's names and numbers: at most its size again.
        let doc_len = archive.entry(&doc_name).map_or(0, |e| e.size);
        archive
            .budget
            .charge(&format!("{doc_name} (the graph built from it)"), doc_len)?;
        let mut graph = pt2::graph(&doc, &doc_name, opts.max_bytes)?;
        drop(doc);
        let loaded = weights::load(&archive, &graph, map_location)?;
        let mut devices: Vec<Device> = loaded.iter().map(|(_, _, d)| *d).collect();
        devices.sort_by_key(|d| d.location_tag());
        devices.dedup();
        let device = match devices.as_slice() {
            [] => match map_location {
                MapLocation::To(d) => *d,
                _ => Device::Cpu,
            },
            [one] => *one,
            many => {
                return Err(Error::Program {
                    at: path.display().to_string(),
                    reason: format!("the weights land on several devices ({many:?}); pass a map_location that puts them on one"),
                })
            }
        };
        // Every op the loader accepts has a CUDA kernel (or is a view), so a program placed on
        // a GPU cannot meet a CPU-only op halfway through a run; an op added CPU-first must be
        // refused here for GPU programs.
        let samples = match archive.entry(&format!("data/sample_inputs/{}.pt", archive.model)) {
            None => None,
            Some(_) => {
                let name = format!("data/sample_inputs/{}.pt", archive.model);
                let bytes = archive.read(&name, 1 << 32)?;
                let ck = weights::pickled_file(&archive, &name, &bytes)?;
                Some(sample_tensors(ck.value()))
            }
        };
        // Plan on the host (folding reads the weights), then place every weight once.
        let params: std::collections::HashSet<usize> = graph
            .feeds
            .iter()
            .filter(|(_, _, f)| *f == crate::graph::ir::Feed::Parameter)
            .map(|(id, _, _)| *id)
            .collect();
        let parameters = loaded
            .iter()
            .filter(|(id, _, _)| params.contains(id))
            .map(|(_, t, _)| t.numel())
            .sum();
        let weight_bytes = loaded
            .iter()
            .map(|(_, t, _)| t.numel() * t.dtype().size())
            .sum();
        let mut host: HashMap<usize, Tensor> =
            loaded.into_iter().map(|(id, t, _)| (id, t)).collect();
        let folded = plan::fold_batch_norm(&mut graph, &mut host, &archive.budget)?;
        let fused = fuse::fuse_residual(&mut graph) + fuse::fuse_activation(&mut graph);
        let last = exec::last_uses(&graph);
        // Only what the plan still reads is placed (a folded batch norm's statistics are not).
        let read: std::collections::HashSet<usize> =
            graph.nodes.iter().flat_map(|n| n.op.inputs()).collect();
        let mut fed = Vec::with_capacity(host.len());
        for (id, t) in host {
            if read.contains(&id) {
                fed.push((id, t.to(&device)?));
            }
        }
        fed.sort_by_key(|(id, _)| *id);
        Ok(Program {
            path: path.to_path_buf(),
            graph,
            last,
            fed,
            device,
            fused,
            folded,
            parameters,
            weight_bytes,
            samples,
            max_value_bytes: opts.max_bytes,
        })
    }

    /// Where the program runs: its weights' device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The forward's tensor arguments.
    pub fn inputs(&self) -> Vec<&TensorSpec> {
        self.graph.inputs.iter().map(|(_, s)| s).collect()
    }

    /// The forward's results.
    pub fn outputs(&self) -> Vec<&TensorSpec> {
        self.graph.outputs.iter().map(|(_, s)| s).collect()
    }

    /// The example inputs saved with the program (`torch.export.save` stores the ones it was
    /// exported with), on the CPU.
    pub fn sample_inputs(&self) -> Option<&[Tensor]> {
        self.samples.as_deref()
    }

    /// Op counts, parameter count and weight bytes.
    pub fn summary(&self) -> ProgramSummary {
        let mut op_counts = BTreeMap::new();
        let mut aten_counts = BTreeMap::new();
        for n in &self.graph.nodes {
            if !matches!(n.op, crate::graph::ir::Op::Identity { .. }) {
                *op_counts.entry(n.op.kind().to_string()).or_insert(0) += 1;
            }
            *aten_counts.entry(n.target.clone()).or_insert(0) += 1;
        }
        ProgramSummary {
            op_counts,
            aten_counts,
            parameters: self.parameters,
            weight_bytes: self.weight_bytes,
            fused: self.fused,
            folded_batch_norms: self.folded,
        }
    }

    /// Runs the forward on `inputs` (one tensor per [`Program::inputs`], in order); inputs on
    /// another device than the program's are copied there first. Returns the results on the
    /// program's device.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.run_with_stats(inputs).map(|(o, _)| o)
    }

    /// [`Program::run`], also returning the peak activation memory and the work done.
    pub fn run_with_stats(&self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, RunStats)> {
        self.run_inner(inputs, None)
    }

    /// [`Program::run`], also returning how long each node took, in graph order: where a
    /// model's time goes.
    pub fn run_profiled(&self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Vec<NodeTime>)> {
        let mut times = Vec::with_capacity(self.graph.nodes.len());
        let (outs, _) = self.run_inner(inputs, Some(&mut times))?;
        Ok((outs, times))
    }

    fn run_inner(
        &self,
        inputs: &[Tensor],
        profile: Option<&mut Vec<NodeTime>>,
    ) -> Result<(Vec<Tensor>, RunStats)> {
        let specs = &self.graph.inputs;
        if inputs.len() != specs.len() {
            return Err(Error::InvalidArgument {
                op: "Program::run",
                name: "inputs",
                reason: format!(
                    "the program takes {} inputs, {} were given",
                    specs.len(),
                    inputs.len()
                ),
            });
        }
        let mut symbols: HashMap<&str, usize> = HashMap::new();
        let mut values: Vec<Option<Tensor>> = vec![None; self.graph.names.len()];
        for ((id, spec), t) in specs.iter().zip(inputs) {
            self.check_input(spec, t, &mut symbols)?;
            values[*id] = Some(t.to(&self.device)?);
        }
        for (id, t) in &self.fed {
            values[*id] = Some(t.clone());
        }
        exec::run(
            &self.graph,
            &self.last,
            values,
            &symbols,
            self.max_value_bytes,
            profile,
        )
    }

    fn check_input<'a>(
        &'a self,
        spec: &'a TensorSpec,
        t: &Tensor,
        symbols: &mut HashMap<&'a str, usize>,
    ) -> Result<()> {
        let refuse = |reason: String| Error::InvalidArgument {
            op: "Program::run",
            name: "inputs",
            reason: format!("input {}: {reason}", spec.name),
        };
        if t.dtype() != spec.dtype {
            return Err(refuse(format!(
                "expected {}, got {}",
                spec.dtype,
                t.dtype()
            )));
        }
        let want: Vec<String> = spec.shape.iter().map(|d| d.to_string()).collect();
        if t.ndim() != spec.shape.len() {
            return Err(refuse(format!(
                "expected shape [{}], got {:?}",
                want.join(", "),
                t.shape()
            )));
        }
        for (i, (d, &n)) in spec.shape.iter().zip(t.shape()).enumerate() {
            match d {
                Dim::Fixed(f) if *f != n => {
                    return Err(refuse(format!(
                        "dimension {i} is {n}, but the program was exported with it fixed at {f} \
                         (shape [{}]); export with torch.export.Dim to make it dynamic",
                        want.join(", ")
                    )))
                }
                Dim::Fixed(_) => {}
                Dim::Symbol(s) => {
                    if let Some(&(lo, hi)) = self.graph.ranges.get(s) {
                        let n64 = n as u64;
                        if n64 < lo || hi.is_some_and(|h| n64 > h) {
                            return Err(refuse(format!(
                                "dimension {i} ({s}) is {n}, outside the exported range {lo}..={}",
                                hi.map_or("inf".into(), |h| h.to_string())
                            )));
                        }
                    }
                    if let Some(&prev) = symbols.get(s.as_str()) {
                        if prev != n {
                            return Err(refuse(format!(
                                "dimension {i} ({s}) is {n}, but {s} is {prev} in another input"
                            )));
                        }
                    }
                    symbols.insert(s, n);
                }
            }
        }
        Ok(())
    }
}

/// The tensors of a saved `(args, kwargs)` pair (or a bare tuple), in order.
fn sample_tensors(v: &Value) -> Vec<Tensor> {
    fn walk(v: &Value, out: &mut Vec<Tensor>) {
        match v {
            Value::Tensor(t) => out.push(t.clone()),
            Value::Tuple(items) | Value::List(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match v {
        // (args, kwargs): the positional arguments only.
        Value::Tuple(items) if items.len() == 2 && matches!(items[1], Value::Dict(_)) => {
            walk(&items[0], &mut out)
        }
        other => walk(other, &mut out),
    }
    out
}
