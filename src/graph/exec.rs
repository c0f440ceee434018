//! Running a planned graph: each node's op on the values it reads, each value dropped after its
//! last reader (so activations live only as long as they are needed), the peak of live
//! activation bytes and the work done counted as it goes.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::graph::budget::over;
use crate::graph::infer;
use crate::graph::ir::{Arith, Dim, Graph, Node, Op, Other, SizeArg, TensorSpec, Unary, ValueId};
use crate::graph::meta::shape_text;
use crate::ops;
use crate::tensor::Tensor;

/// What a run measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunStats {
    /// The most bytes of activations (values computed by the run, weights excluded) alive at
    /// once.
    pub peak_activation_bytes: usize,
    /// Floating-point operations of the convolutions and matrix products (2 per multiply-add).
    pub flops: u64,
}

/// One node's share of a profiled run ([`crate::Program::run_profiled`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTime {
    /// The node's name in the graph.
    pub node: String,
    /// Its ATen target, e.g. `aten.conv2d.default`.
    pub target: String,
    /// The shapes it read, e.g. `[1, 64, 56, 56] [64, 64, 3, 3]`.
    pub shapes: String,
    /// Wall-clock seconds its op took.
    pub seconds: f64,
}

/// For each value, the index of the last node that reads it (`usize::MAX`: an output, kept).
pub(crate) fn last_uses(g: &Graph) -> Vec<usize> {
    let mut last = vec![0usize; g.names.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        for v in n.op.inputs() {
            last[v] = i;
        }
    }
    for (v, _) in &g.outputs {
        last[*v] = usize::MAX;
    }
    last
}

fn get(values: &[Option<Tensor>], v: ValueId, node: &Node, names: &[String]) -> Result<Tensor> {
    values
        .get(v)
        .and_then(Option::as_ref)
        .cloned()
        .ok_or_else(|| Error::Program {
            at: format!("node {}", node.name),
            reason: format!(
                "value {} is not available (freed or never computed)",
                names.get(v).map_or("?", String::as_str)
            ),
        })
}

/// Bytes a freshly computed value holds of its own (a view of an input holds none).
fn own_bytes(t: &Tensor, reads: &[Tensor]) -> usize {
    if reads.iter().any(|r| r.shares_storage(t)) {
        0
    } else {
        t.storage().nbytes()
    }
}

/// Why `shape` (a result of `node`) is not what the graph declares, if it is not: a fixed size
/// must match, a dynamic one must be the size its symbol has in this run's inputs (a derived
/// size such as `2*s77` is not checked). Also refuses a result beyond `max` bytes.
fn against_declared(
    node: &Node,
    spec: &TensorSpec,
    shape: &[usize],
    itemsize: usize,
    symbols: &HashMap<&str, usize>,
    max: u64,
) -> Result<()> {
    let fits = spec.shape.len() == shape.len()
        && spec.shape.iter().zip(shape).all(|(d, &n)| match d {
            Dim::Fixed(f) => *f == n,
            Dim::Symbol(s) => symbols.get(s.as_str()).is_none_or(|&v| v == n),
        });
    let at = || format!("node {} ({})", node.name, node.target);
    if !fits {
        return Err(Error::Program {
            at: at(),
            reason: format!(
                "computes {} {shape:?}, but the graph declares it {}",
                spec.name,
                shape_text(&spec.shape)
            ),
        });
    }
    let bytes = shape
        .iter()
        .try_fold(itemsize as u64, |a, &d| a.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    if bytes > max {
        return Err(over(&format!("{}: value {}", at(), spec.name), max, bytes));
    }
    Ok(())
}

/// Runs `g` with `values` holding the fed weights and the inputs; returns the outputs. Every
/// result is held to its declared meta (`symbols`: the dynamic sizes of this run's inputs),
/// and the results of ops that grow are predicted and checked before they are computed.
pub(crate) fn run(
    g: &Graph,
    last: &[usize],
    mut values: Vec<Option<Tensor>>,
    symbols: &HashMap<&str, usize>,
    max_value_bytes: u64,
    mut profile: Option<&mut Vec<NodeTime>>,
) -> Result<(Vec<Tensor>, RunStats)> {
    let mut stats = RunStats::default();
    let mut live = 0usize;
    let mut sizes = vec![0usize; values.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        let ins: Vec<Tensor> = node
            .op
            .inputs()
            .into_iter()
            .map(|v| get(&values, v, node, &g.names))
            .collect::<Result<_>>()?;
        // Our CUDA kernels take contiguous operands; a view (permute, chunk, transpose) read by
        // one is copied on the device first, as torch's kernels do internally. Views of views,
        // and the CPU kernels (which take any strides), need nothing.
        let ins = if node.op.is_view() {
            ins
        } else {
            ins.into_iter()
                .map(|t| {
                    if t.device().is_cuda() && !t.is_contiguous() {
                        t.contiguous()
                    } else {
                        Ok(t)
                    }
                })
                .collect::<Result<Vec<_>>>()?
        };
        let shapes: Vec<&[usize]> = ins.iter().map(Tensor::shape).collect();
        if let (Some(want), Some(spec)) = (infer::shape(&node.op, &shapes), node.declared.first()) {
            against_declared(
                node,
                spec,
                &want,
                spec.dtype.size(),
                symbols,
                max_value_bytes,
            )?;
        }
        if let (Op::Chunk { chunks, dim, .. }, Some(x)) = (&node.op, shapes.first()) {
            // An empty dimension splits into `chunks` empty pieces, however many that is: the
            // graph names the pieces, so more than it names is refused before any is made.
            let empty = infer::wrap(*dim, x.len()).is_some_and(|d| x[d] == 0);
            if empty && *chunks != node.outputs.len() {
                return Err(Error::Program {
                    at: format!("node {} ({})", node.name, node.target),
                    reason: format!(
                        "splits an empty dimension into {chunks} pieces; the graph names {}",
                        node.outputs.len()
                    ),
                });
            }
        }
        let started = profile.is_some().then(std::time::Instant::now);
        let ys = eval(&node.op, &ins, &mut stats).map_err(|e| Error::Program {
            at: format!("node {} ({})", node.name, node.target),
            reason: e.to_string(),
        })?;
        if let (Some(p), Some(t0)) = (profile.as_deref_mut(), started) {
            p.push(NodeTime {
                node: node.name.clone(),
                target: node.target.clone(),
                shapes: shapes
                    .iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                seconds: t0.elapsed().as_secs_f64(),
            });
        }
        if ys.len() != node.outputs.len() {
            return Err(Error::Program {
                at: format!("node {} ({})", node.name, node.target),
                reason: format!(
                    "computed {} outputs, the graph names {}",
                    ys.len(),
                    node.outputs.len()
                ),
            });
        }
        for (y, spec) in ys.iter().zip(&node.declared) {
            if y.dtype() != spec.dtype {
                return Err(Error::Program {
                    at: format!("node {} ({})", node.name, node.target),
                    reason: format!(
                        "computes {} as {}, but the graph declares {}",
                        spec.name,
                        y.dtype(),
                        spec.dtype
                    ),
                });
            }
            against_declared(
                node,
                spec,
                y.shape(),
                y.dtype().size(),
                symbols,
                max_value_bytes,
            )?;
        }
        for (y, &out) in ys.into_iter().zip(&node.outputs) {
            sizes[out] = own_bytes(&y, &ins);
            live += sizes[out];
            stats.peak_activation_bytes = stats.peak_activation_bytes.max(live);
            if let Some(m) = node.mutates {
                values[m] = Some(y.clone());
            }
            values[out] = Some(y);
        }
        for v in node.op.inputs() {
            if last[v] == i && values[v].take().is_some() {
                live -= sizes[v];
                sizes[v] = 0;
            }
        }
    }
    let outs = g
        .outputs
        .iter()
        .map(|(v, spec)| {
            values[*v].take().ok_or_else(|| Error::Program {
                at: format!("output {}", spec.name),
                reason: "never computed".into(),
            })
        })
        .collect::<Result<_>>()?;
    Ok((outs, stats))
}

fn eval(op: &Op, ins: &[Tensor], stats: &mut RunStats) -> Result<Vec<Tensor>> {
    let t = |i: usize| &ins[i];
    // Optional operands follow the required ones in `Op::inputs` order.
    let mut next = 0;
    let mut opt = |present: bool, first: usize| {
        if present {
            let i = first + next;
            next += 1;
            Some(&ins[i])
        } else {
            None
        }
    };
    let one = |y: Tensor| Ok(vec![y]);
    match op {
        Op::Conv2d {
            b,
            args,
            residual,
            act,
            ..
        } => {
            let b = opt(b.is_some(), 2);
            let r = opt(residual.is_some(), 2);
            let y = ops::conv2d_fused(t(0), t(1), b, args, r, *act)?;
            // 2 · N · C_out · H_out · W_out · (C_in / groups) · kh · kw
            let per_out: usize = t(1).shape().get(1..).map_or(0, |s| s.iter().product());
            stats.flops = stats
                .flops
                .saturating_add((2 * y.numel() as u64).saturating_mul(per_out as u64));
            one(y)
        }
        Op::Linear { b, relu, .. } => {
            let b = opt(b.is_some(), 2);
            let y = if *relu {
                ops::linear_relu(t(0), t(1), b)?
            } else {
                ops::linear(t(0), t(1), b)?
            };
            let k = t(1).shape().last().copied().unwrap_or(0) as u64;
            stats.flops = stats
                .flops
                .saturating_add((2 * y.numel() as u64).saturating_mul(k));
            one(y)
        }
        Op::BatchNorm { w, b, eps, .. } => {
            let (w, b) = (opt(w.is_some(), 3), opt(b.is_some(), 3));
            one(ops::batch_norm(t(0), w, b, t(1), t(2), *eps)?)
        }
        Op::Unary { f, .. } => one(match f {
            Unary::Relu => ops::relu(t(0))?,
            Unary::Hardtanh(lo, hi) => ops::hardtanh(t(0), *lo, *hi)?,
            Unary::Silu => ops::silu(t(0))?,
            Unary::Sigmoid => ops::sigmoid(t(0))?,
            Unary::Hardswish => ops::hardswish(t(0))?,
            Unary::Hardsigmoid => ops::hardsigmoid(t(0))?,
            Unary::Gelu(a) => ops::gelu(t(0), *a)?,
        }),
        Op::Binary { b, f, relu, .. } => {
            let y = match (f, b) {
                (Arith::Add(alpha), Other::Tensor(_)) if *alpha == 1.0 && *relu => {
                    ops::add_relu(t(0), t(1))?
                }
                (Arith::Add(alpha), Other::Tensor(_)) if *alpha == 1.0 => ops::add(t(0), t(1))?,
                (Arith::Add(alpha), Other::Tensor(_)) => ops::add_scaled(t(0), t(1), *alpha)?,
                (Arith::Add(alpha), Other::Scalar(s)) => ops::add_scalar(t(0), alpha * s)?,
                (Arith::Mul, Other::Tensor(_)) => ops::mul(t(0), t(1))?,
                (Arith::Mul, Other::Scalar(s)) => ops::mul_scalar(t(0), *s)?,
            };
            // Only add(a, b) fuses a relu (the planner checks); anything else here is a bug.
            if *relu && !matches!((f, b), (Arith::Add(a), Other::Tensor(_)) if *a == 1.0) {
                return Err(Error::InvalidArgument {
                    op: "graph",
                    name: "relu",
                    reason: "a fused relu on an op without one".into(),
                });
            }
            one(y)
        }
        Op::MaxPool2d { args, .. } => one(ops::max_pool2d(t(0), args)?),
        Op::AvgPool2d { args, .. } => one(ops::avg_pool2d(t(0), args)?),
        Op::AdaptiveAvgPool2d { size, .. } => one(ops::adaptive_avg_pool2d(t(0), *size)?),
        Op::Flatten { start, end, .. } => one(ops::flatten(t(0), *start, *end)?),
        Op::Reshape { shape, .. } => {
            // Symbolic entries read their tensor's size now; they follow x in `ins`.
            let mut next = 1;
            let mut dims = Vec::with_capacity(shape.len());
            for s in shape {
                dims.push(match s {
                    SizeArg::Int(i) => *i,
                    SizeArg::DimOf(_, d) => {
                        let of = &ins[next];
                        next += 1;
                        let n =
                            of.shape()
                                .get(*d)
                                .copied()
                                .ok_or_else(|| Error::InvalidArgument {
                                    op: "view",
                                    name: "size",
                                    reason: format!("dimension {d} of a {}-d tensor", of.ndim()),
                                })?;
                        isize::try_from(n).map_err(|_| Error::Overflow {
                            what: format!("size {n}"),
                        })?
                    }
                });
            }
            one(ops::reshape(t(0), &dims)?)
        }
        Op::Softmax { dim, .. } => one(ops::softmax(t(0), *dim)?),
        Op::Contiguous { .. } => one(t(0).contiguous()?),
        Op::Identity { .. } => one(t(0).clone()),
        Op::LayerNorm {
            shape, w, b, eps, ..
        } => {
            let (w, b) = (opt(w.is_some(), 1), opt(b.is_some(), 1));
            one(ops::layer_norm(t(0), shape, w, b, *eps)?)
        }
        Op::Mean { dims, keepdim, .. } => one(ops::mean_dim(t(0), dims, *keepdim)?),
        Op::Cat { dim, .. } => {
            let refs: Vec<&Tensor> = ins.iter().collect();
            one(ops::cat(&refs, *dim)?)
        }
        Op::Chunk { chunks, dim, .. } => Ok(ops::chunk(t(0), *chunks, *dim)?),
        Op::Permute { dims, .. } => one(ops::permute(t(0), dims)?),
        Op::Transpose { d0, d1, .. } => one(ops::transpose(t(0), *d0, *d1)?),
        Op::Unsqueeze { dim, .. } => one(ops::unsqueeze(t(0), *dim)?),
        Op::Pad { pad, value, .. } => one(ops::pad(t(0), pad, *value)?),
    }
}
