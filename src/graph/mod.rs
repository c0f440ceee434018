//! Programs exported with `torch.export` (`.pt2` archives), run without Python.
//!
//! - `pt2.rs`: the archive (format, byte order, model, size-capped JSON records) and the graph
//!   in it; `meta.rs`: the schema's dtypes, sizes and devices; `json.rs`: checked access with
//!   the path of every value in the message.
//! - `aten.rs`: each exported ATen op and its arguments as an `ir.rs` op, or
//!   [`crate::Error::UnsupportedOp`] at load.
//! - `weights.rs`: weights, buffers and constants from the archive, placed once.
//! - `plan.rs`: rewrites made at load (relu fused into its producer).
//! - `exec.rs`: running the graph, values freed after their last reader.
//! - `program.rs`: [`Program`], the public face.

mod aten;
mod exec;
mod ir;
mod json;
mod meta;
mod plan;
mod program;
mod pt2;
mod weights;

pub use exec::RunStats;
pub use ir::{Dim, TensorSpec};
pub use program::{Program, ProgramSummary};

/// Every ATen op a program may use (`aten.<name>.<overload>`).
pub fn supported_ops() -> &'static [&'static str] {
    aten::SUPPORTED
}
