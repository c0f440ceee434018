//! Rewrites made once at load, before any run:
//! - a batch norm whose input is a convolution's output, read by nothing else, is folded into
//!   that convolution's weights (computed in float64 and rounded once), and becomes an
//!   identity;
//! - additions and activations run inside the op that produces their input (`fuse.rs`).

use std::collections::HashMap;

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::budget::Budget;
use crate::graph::ir::{Graph, Op, ValueId};
use crate::tensor::Tensor;

/// How many nodes read each value (graph outputs count as a reader).
pub(crate) fn readers(g: &Graph) -> Vec<usize> {
    let mut r = vec![0usize; g.names.len()];
    for n in &g.nodes {
        for v in n.op.inputs() {
            r[v] += 1;
        }
    }
    for (v, _) in &g.outputs {
        r[*v] += 1;
    }
    r
}

/// The node defining each value.
pub(crate) fn producers(g: &Graph) -> Vec<Option<usize>> {
    let mut p = vec![None; g.names.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        for &o in &n.outputs {
            p[o] = Some(i);
        }
    }
    p
}

/// `t` (float32) as float64 values.
fn f64s(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_vec::<f32>()?.into_iter().map(f64::from).collect())
}

/// Folds `batch_norm(conv(x, w, b))` into `conv(x, w', b')`: with s = γ / sqrt(var + eps),
/// w'[o] = w[o] · s[o] and b'[o] = (b[o] - mean[o]) · s[o] + β[o]. `fed` holds the host
/// tensors of the archive's weights, by value; the folded ones are added as new values.
/// Returns how many were folded.
///
/// The folded weights are charged to `budget` (the archive's stay mapped).
pub(crate) fn fold_batch_norm(
    g: &mut Graph,
    fed: &mut HashMap<ValueId, Tensor>,
    budget: &Budget,
) -> Result<usize> {
    let readers = readers(g);
    let producer = producers(g);
    let mut folded = 0;
    for i in 0..g.nodes.len() {
        let Op::BatchNorm {
            x,
            w: gamma,
            b: beta,
            mean,
            var,
            eps,
        } = g.nodes[i].op.clone()
        else {
            continue;
        };
        let Some(p) = producer[x].filter(|&p| readers[x] == 1 && g.nodes[p].mutates.is_none())
        else {
            continue;
        };
        let Op::Conv2d {
            w,
            b,
            residual: None,
            act: None,
            ..
        } = g.nodes[p].op.clone()
        else {
            continue;
        };
        let get = |v: Option<ValueId>| v.map(|v| fed.get(&v).cloned());
        let (Some(wt), Some(mt), Some(vt)) = (
            fed.get(&w).cloned(),
            fed.get(&mean).cloned(),
            fed.get(&var).cloned(),
        ) else {
            continue;
        };
        let (gt, bt, cb) = (get(gamma), get(beta), get(b));
        // Every operand must be an archive tensor (not computed), float32, on the host.
        if [&gt, &bt, &cb].iter().any(|o| matches!(o, Some(None))) {
            continue;
        }
        let all = [
            Some(&wt),
            Some(&mt),
            Some(&vt),
            gt.as_ref().and_then(Option::as_ref),
            bt.as_ref().and_then(Option::as_ref),
            cb.as_ref().and_then(Option::as_ref),
        ];
        if all
            .iter()
            .flatten()
            .any(|t| t.dtype() != DType::F32 || t.device().is_cuda())
        {
            continue;
        }
        let c_out = wt.shape().first().copied().unwrap_or(0);
        let per = wt.numel().checked_div(c_out).unwrap_or(0);
        let (mv, vv) = (f64s(&mt)?, f64s(&vt)?);
        let gv = match gt.flatten() {
            Some(t) => f64s(&t)?,
            None => vec![1.0; c_out],
        };
        let bv = match bt.flatten() {
            Some(t) => f64s(&t)?,
            None => vec![0.0; c_out],
        };
        let cv = match cb.flatten() {
            Some(t) => f64s(&t)?,
            None => vec![0.0; c_out],
        };
        if [mv.len(), vv.len(), gv.len(), bv.len(), cv.len()]
            .iter()
            .any(|&n| n != c_out)
        {
            continue;
        }
        // The folded weight and bias stay; the float64 copies are transient, one weight at a
        // time, and no larger than twice the archive's own weight.
        let folded_bytes = (wt.numel() as u64)
            .saturating_add(c_out as u64)
            .saturating_mul(4);
        budget.charge(
            &format!("node {} (folded into {})", g.nodes[i].name, g.names[w]),
            folded_bytes,
        )?;
        let wv = f64s(&wt.contiguous()?)?;
        let mut new_w = Vec::with_capacity(wv.len());
        let mut new_b = Vec::with_capacity(c_out);
        for o in 0..c_out {
            let s = gv[o] / (vv[o] + eps).sqrt();
            new_w.extend(wv[o * per..(o + 1) * per].iter().map(|&x| (x * s) as f32));
            new_b.push(((cv[o] - mv[o]) * s + bv[o]) as f32);
        }
        let wid = g.names.len();
        g.names.push(format!("{}+{}", g.names[w], g.nodes[i].name));
        let bid = g.names.len();
        g.names.push(format!("{}.bias", g.nodes[i].name));
        fed.insert(wid, Tensor::from_vec(new_w, wt.shape())?);
        fed.insert(bid, Tensor::from_vec(new_b, &[c_out])?);
        if let Op::Conv2d { w, b, .. } = &mut g.nodes[p].op {
            *w = wid;
            *b = Some(bid);
        }
        g.nodes[i].op = Op::Identity { x };
        folded += 1;
    }
    Ok(folded)
}
