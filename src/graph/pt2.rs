//! The graph in a `.pt2` archive's `models/<model>.json` (see `archive.rs` for the archive).
//!
//! Everything is checked before use: every tensor a node reads must be defined earlier (so the
//! graph has no cycles), every input and output is declared, every op is one we run
//! ([`crate::graph::aten`]), every value a node defines has its declared meta.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::error::Result;
use crate::graph::aten::{self, NodeArgs};
use crate::graph::ir::{Feed, Graph, Node, ValueId};
use crate::graph::json::{bad, At};
use crate::graph::meta;

/// Schema majors this reader knows (torch 2.15 writes 8.20).
const SCHEMA_MAJOR: i64 = 8;

/// The graph of the archive's model, every reference resolved and every op parsed.
///
/// `max_value_bytes` bounds every value the graph declares with a fixed shape (the run checks
/// the dynamic ones when their sizes are known).
pub(crate) fn graph(doc: &Json, path: &str, max_value_bytes: u64) -> Result<Graph> {
    let root = At::new(doc, path);
    let (ver, vp) = root.field("schema_version")?;
    let (major, mp) = At::new(ver, &vp).field("major")?;
    let major = At::new(major, &mp).i64()?;
    if major != SCHEMA_MAJOR {
        return Err(bad(
            &mp,
            format!("schema version {major}.x; this reader knows {SCHEMA_MAJOR}.x (torch 2.15)"),
        ));
    }
    let (gm, gmp) = root.field("graph_module")?;
    let gm = At::new(gm, &gmp);
    let (g, gp) = gm.field("graph")?;
    let g = At::new(g, &gp);
    let (tv, tvp) = g.field("tensor_values")?;
    let tensor_values = At::new(tv, &tvp).obj()?;

    let mut b = Builder::default();
    // Inputs, with what feeds each one (signature.input_specs, in the same order).
    let (sig, sp) = gm.field("signature")?;
    let sig = At::new(sig, &sp);
    let (ins, ip) = g.field("inputs")?;
    let ins = At::new(ins, &ip).arr()?;
    let (specs, isp) = sig.field("input_specs")?;
    let specs = At::new(specs, &isp).arr()?;
    if ins.len() != specs.len() {
        return Err(bad(
            &isp,
            format!("{} specs for {} graph inputs", specs.len(), ins.len()),
        ));
    }
    for (i, spec) in specs.iter().enumerate() {
        let p = format!("{isp}[{i}]");
        let (kind, v) = At::new(spec, &p).union()?;
        let v = At::new(v, &p);
        let (arg, ap) = v.field("arg")?;
        let (name, feed) = match kind {
            "user_input" => {
                let (tag, t) = At::new(arg, &ap).union()?;
                if tag != "as_tensor" {
                    return Err(bad(
                        &ap,
                        format!("a {tag} input; only tensor inputs are supported"),
                    ));
                }
                let (n, np) = At::new(t, &ap).field("name")?;
                (At::new(n, &np).str()?.to_string(), None)
            }
            "parameter" | "buffer" | "tensor_constant" => {
                let (n, np) = At::new(arg, &ap).field("name")?;
                let key = match kind {
                    "parameter" => "parameter_name",
                    "buffer" => "buffer_name",
                    _ => "tensor_constant_name",
                };
                let (fqn, fp) = v.field(key)?;
                let feed = match kind {
                    "parameter" => Feed::Parameter,
                    "buffer" => Feed::Buffer,
                    _ => Feed::Constant,
                };
                (
                    At::new(n, &np).str()?.to_string(),
                    Some((At::new(fqn, &fp).str()?.to_string(), feed)),
                )
            }
            other => {
                return Err(bad(
                    &p,
                    format!("an input of kind {other} is not supported"),
                ))
            }
        };
        let id = b.define(&name, &p)?;
        match feed {
            Some((fqn, feed)) => b.g.feeds.push((id, fqn, feed)),
            None => {
                let meta = tensor_values
                    .get(&name)
                    .ok_or_else(|| bad(&p, format!("input {name} has no tensor_values entry")))?;
                let spec = meta::spec(&name, meta, &format!("{tvp}.{name}"))?;
                b.g.inputs.push((id, spec));
            }
        }
    }
    // Nodes, in order: each may read only what is already defined.
    let (nodes, np) = g.field("nodes")?;
    for (i, node) in At::new(nodes, &np).arr()?.iter().enumerate() {
        let p = format!("{np}[{i}]");
        b.node(At::new(node, &p), tensor_values, &tvp, max_value_bytes)?;
    }
    // Outputs.
    let (outs, op) = sig.field("output_specs")?;
    for (i, spec) in At::new(outs, &op).arr()?.iter().enumerate() {
        let p = format!("{op}[{i}]");
        let (kind, v) = At::new(spec, &p).union()?;
        if kind != "user_output" {
            return Err(bad(
                &p,
                format!("an output of kind {kind} (export the model in eval mode)"),
            ));
        }
        let (arg, ap) = At::new(v, &p).field("arg")?;
        let (tag, t) = At::new(arg, &ap).union()?;
        if tag != "as_tensor" {
            return Err(bad(
                &ap,
                format!("a {tag} output; only tensor outputs are supported"),
            ));
        }
        let (n, nnp) = At::new(t, &ap).field("name")?;
        let name = At::new(n, &nnp).str()?;
        let id = b.lookup(name, &p)?;
        let meta = tensor_values
            .get(name)
            .ok_or_else(|| bad(&p, format!("output {name} has no tensor_values entry")))?;
        let spec = meta::spec(name, meta, &format!("{tvp}.{name}"))?;
        b.g.outputs.push((id, spec));
    }
    // Dynamic sizes' ranges.
    if let Some((rc, rp)) = root.opt("range_constraints")? {
        for (sym, r) in At::new(rc, &rp).obj()? {
            let p = format!("{rp}.{sym}");
            let r = At::new(r, &p);
            let lo = match r.opt("min_val")? {
                Some((v, vp)) => u64::try_from(At::new(v, &vp).i64()?).unwrap_or(0),
                None => 0,
            };
            let hi = match r.opt("max_val")? {
                Some((v, vp)) => u64::try_from(At::new(v, &vp).i64()?).ok(),
                None => None,
            };
            b.g.ranges.insert(sym.clone(), (lo, hi));
        }
    }
    Ok(b.g)
}

#[derive(Default)]
struct Builder {
    g: Graph,
    ids: HashMap<String, ValueId>,
    syms: HashMap<String, (ValueId, usize)>,
}

impl Builder {
    fn define(&mut self, name: &str, at: &str) -> Result<ValueId> {
        if self.ids.contains_key(name) {
            return Err(bad(at, format!("value {name} is defined twice")));
        }
        let id = self.g.names.len();
        self.g.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        Ok(id)
    }

    fn lookup(&self, name: &str, at: &str) -> Result<ValueId> {
        self.ids.get(name).copied().ok_or_else(|| {
            bad(
                at,
                format!("refers to value {name}, which no earlier input or node defines"),
            )
        })
    }

    fn node(
        &mut self,
        at: At<'_, '_>,
        tensor_values: &serde_json::Map<String, Json>,
        tvp: &str,
        max_value_bytes: u64,
    ) -> Result<()> {
        let (t, tp) = at.field("target")?;
        let target = At::new(t, &tp).str()?;
        let target = target.strip_prefix("torch.ops.").unwrap_or(target);
        let name = match at.opt("name")? {
            Some((n, np)) => At::new(n, &np).str()?.to_string(),
            None => String::new(),
        };
        let (ins, ip) = at.field("inputs")?;
        let ins = At::new(ins, &ip).arr()?;
        let (outs, op) = at.field("outputs")?;
        let outs = At::new(outs, &op).arr()?;
        let [out] = outs else {
            return Err(bad(
                &op,
                format!(
                    "{} outputs; nodes define one tensor or one list of tensors",
                    outs.len()
                ),
            ));
        };
        let (tag, o) = At::new(out, &op).union()?;
        if tag == "as_sym_int" && target == "aten.sym_size.int" {
            // A dynamic size, read by later size lists at run time.
            let resolve = |n: &str, _node: &str| self.lookup(n, at.path);
            let args = NodeArgs::new(&name, at.path, ins, &resolve, &self.syms)?;
            let t = args.tensor("self")?;
            let d =
                usize::try_from(args.int("dim", 0)?).map_err(|_| args.refuse("dim", "negative"))?;
            let (n, np) = At::new(o, &op).field("as_name")?;
            let sym = At::new(n, &np).str()?.to_string();
            if self.syms.insert(sym.clone(), (t, d)).is_some() {
                return Err(bad(&np, format!("symbol {sym} is defined twice")));
            }
            return Ok(());
        }
        let out_names: Vec<String> = match tag {
            "as_tensor" => {
                let (on, onp) = At::new(o, &op).field("name")?;
                vec![At::new(on, &onp).str()?.to_string()]
            }
            "as_tensors" => At::new(o, &op)
                .arr()?
                .iter()
                .map(|t| {
                    let (on, onp) = At::new(t, &op).field("name")?;
                    At::new(on, &onp).str().map(str::to_string)
                })
                .collect::<Result<_>>()?,
            other => {
                return Err(bad(
                    &op,
                    format!("a {other} output; only tensor outputs are supported"),
                ))
            }
        };
        let node_name = if name.is_empty() {
            out_names.first().cloned().unwrap_or_default()
        } else {
            name
        };
        let resolve = |n: &str, _node: &str| self.lookup(n, at.path);
        let args = NodeArgs::new(&node_name, at.path, ins, &resolve, &self.syms)?;
        let parsed = aten::op(target, &args)?;
        let mutates = match (target.split('.').nth(1), &parsed) {
            (Some(op), p) if op.ends_with('_') => p.inputs().first().copied(),
            _ => None,
        };
        let multi = matches!(parsed, crate::graph::ir::Op::Chunk { .. });
        if multi != (tag == "as_tensors") {
            return Err(bad(&op, format!("{target} does not define {tag}")));
        }
        if let crate::graph::ir::Op::Chunk { chunks, .. } = parsed {
            // chunk gives at most `chunks` pieces (fewer when the dimension is small); the
            // graph names the ones the export saw, which the run must produce exactly.
            if out_names.len() > chunks {
                return Err(bad(
                    &op,
                    format!("{} outputs of a chunk into {chunks}", out_names.len()),
                ));
            }
        }
        let outputs = out_names
            .iter()
            .map(|n| self.define(n, &op))
            .collect::<Result<Vec<_>>>()?;
        // What the exporter saw each output be: the run holds every result to it.
        let declared = out_names
            .iter()
            .map(|n| {
                let meta = tensor_values
                    .get(n)
                    .ok_or_else(|| bad(&op, format!("value {n} has no tensor_values entry")))?;
                let spec = meta::spec(n, meta, &format!("{tvp}.{n}"))?;
                meta::check_size(&spec, max_value_bytes, &format!("{tvp}.{n}"))?;
                Ok(spec)
            })
            .collect::<Result<Vec<_>>>()?;
        self.g.nodes.push(Node {
            declared,
            name: node_name,
            target: target.to_string(),
            op: parsed,
            outputs,
            mutates,
        });
        Ok(())
    }
}
