//! Rewrites made once at load, before any run: a relu whose only input is a convolution's,
//! a linear layer's or an addition's output, read by nothing else, runs inside that op (our CPU
//! kernels apply it as they store the result) and the relu node becomes an identity.

use crate::graph::ir::{Graph, Op};

/// Fuses relus into their producers; returns how many.
pub(crate) fn fuse_relu(g: &mut Graph) -> usize {
    let mut readers = vec![0usize; g.names.len()];
    for n in &g.nodes {
        for v in n.op.inputs() {
            readers[v] += 1;
        }
    }
    for (v, _) in &g.outputs {
        readers[*v] += 1;
    }
    let mut producer = vec![None; g.names.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        producer[n.output] = Some(i);
    }
    let mut fused = 0;
    for i in 0..g.nodes.len() {
        let Op::Relu { x } = g.nodes[i].op else {
            continue;
        };
        // An in-place producer's output is also its input's new value: leave it alone.
        let Some(p) = producer[x].filter(|&p| readers[x] == 1 && g.nodes[p].mutates.is_none())
        else {
            continue;
        };
        let done = match &mut g.nodes[p].op {
            Op::Conv2d { relu, .. } | Op::Linear { relu, .. } | Op::Add { relu, .. } if !*relu => {
                *relu = true;
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
