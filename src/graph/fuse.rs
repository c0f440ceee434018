//! Fusions made once at load, after batch norms are folded: each removes a pass over an
//! activation in memory, and none changes a bit of the result (the fused kernels apply the
//! standalone ops' formulas in the graph's order).
//! - `add(a, b)` where one operand is a convolution's output read by nothing else, and the
//!   other is computed before that convolution runs, becomes the convolution's residual
//!   (ResNet's `out += identity`): the kernel adds it as it stores the output.
//! - an activation (relu, hardtanh, silu, hardswish, ...) whose only input is a convolution's
//!   output runs inside the convolution; relu also inside a linear layer or an addition.
//!
//! The fused node becomes an identity of the value it used to compute, so the graph keeps its
//! names and outputs. Every value on the way from the consumer back to its producer must have
//! this one reader; an in-place producer's output is also its input's new value, so a chain
//! stops there.

use crate::cpu::epilogue::Act;
use crate::graph::ir::{Arith, Graph, Op, Other, Unary, ValueId};
use crate::graph::plan::{producers, readers};
use crate::ops::activation::Activation;

/// The node computing `v`, through identities with one reader each.
fn source(g: &Graph, readers: &[usize], producer: &[Option<usize>], v: ValueId) -> Option<usize> {
    let mut v = v;
    while let Some(p) = producer[v].filter(|&p| readers[v] == 1 && g.nodes[p].mutates.is_none()) {
        match g.nodes[p].op {
            Op::Identity { x: up } => v = up,
            _ => return Some(p),
        }
    }
    None
}

/// Fuses additions into convolutions; returns how many.
pub(crate) fn fuse_residual(g: &mut Graph) -> usize {
    let readers = readers(g);
    let producer = producers(g);
    let mut fused = 0;
    for i in 0..g.nodes.len() {
        let Op::Binary {
            a,
            b: Other::Tensor(b),
            f: Arith::Add(alpha),
            relu: false,
        } = g.nodes[i].op
        else {
            continue;
        };
        if alpha != 1.0 {
            continue;
        }
        // An in-place add_ rebinds its first operand: the result must land in it anyway (it is
        // the convolution's side) or nothing else may read it (then nobody sees the rebinding).
        let mutates = g.nodes[i].mutates;
        // Prefer the later convolution: the other operand is more likely computed by then.
        let mut options: Vec<(usize, ValueId, ValueId)> = [(a, b), (b, a)]
            .into_iter()
            .filter_map(|(conv_side, other)| {
                let p = source(g, &readers, &producer, conv_side)?;
                let ready = producer[other].is_none_or(|q| q < p);
                let free = matches!(
                    g.nodes[p].op,
                    Op::Conv2d {
                        residual: None,
                        act: None,
                        ..
                    }
                );
                let rebinds_ok = mutates.is_none_or(|m| m == conv_side || readers[m] == 1);
                (ready && free && rebinds_ok && other != conv_side).then_some((p, conv_side, other))
            })
            .collect();
        options.sort_by_key(|o| std::cmp::Reverse(o.0));
        let Some(&(p, conv_side, other)) = options.first() else {
            continue;
        };
        if let Op::Conv2d { residual, .. } = &mut g.nodes[p].op {
            *residual = Some(other);
        }
        g.nodes[i].op = Op::Identity { x: conv_side };
        // The result is the first operand's value already (it is the convolution's output).
        g.nodes[i].mutates = None;
        fused += 1;
    }
    fused
}

/// The kernel epilogue computing `f`, where it can run inside a convolution: every activation
/// but a hardtanh the standalone op would refuse (min > max), which must still be refused.
fn epilogue_of(f: Unary) -> Option<Act> {
    Some(match f {
        Unary::Relu => Act::Relu,
        Unary::Hardtanh(lo, hi) if lo <= hi => Act::Other(Activation::Hardtanh {
            min_val: lo,
            max_val: hi,
        }),
        Unary::Hardtanh(..) => return None,
        Unary::Silu => Act::Other(Activation::Silu),
        Unary::Sigmoid => Act::Other(Activation::Sigmoid),
        Unary::Hardswish => Act::Other(Activation::Hardswish),
        Unary::Hardsigmoid => Act::Other(Activation::Hardsigmoid),
        Unary::Gelu(a) => Act::Other(Activation::Gelu(a)),
    })
}

/// Fuses activations into their producers; returns how many.
pub(crate) fn fuse_activation(g: &mut Graph) -> usize {
    let readers = readers(g);
    let producer = producers(g);
    let mut fused = 0;
    for i in 0..g.nodes.len() {
        let Op::Unary { x, f } = g.nodes[i].op else {
            continue;
        };
        let (Some(p), Some(e)) = (source(g, &readers, &producer, x), epilogue_of(f)) else {
            continue;
        };
        let relu = e == Act::Relu;
        let done = match &mut g.nodes[p].op {
            Op::Conv2d {
                act: act @ None, ..
            } => {
                *act = Some(e);
                true
            }
            Op::Linear { relu: r, .. }
            | Op::Binary {
                f: Arith::Add(1.0),
                b: Other::Tensor(_),
                relu: r,
                ..
            } if relu && !*r => {
                *r = true;
                true
            }
            _ => false,
        };
        if done {
            g.nodes[i].op = Op::Identity { x };
            fused += 1;
        }
    }
    fused
}
