//! Programs exported with `torch.export` (`.pt2` archives), run without Python.
//!
//! - `archive.rs`: the archive (format, byte order, model, JSON records); `budget.rs`: the
//!   memory budget every record and value is charged to; `pt2.rs`: the graph in it; `meta.rs`: the schema's dtypes, sizes and devices; `json.rs`: checked access with
//!   the path of every value in the message.
//! - `aten.rs`: each exported ATen op and its arguments as an `ir.rs` op, or
//!   [`crate::Error::UnsupportedOp`] at load.
//! - `weights.rs`: weights, buffers and constants from the archive, placed once.
//! - `plan.rs`: rewrites made at load (relu fused into its producer).
//! - `exec.rs`: running the graph, values freed after their last reader, each result held to
//!   its declared meta (`infer.rs` predicts the growing ops' results before they run).
//! - `program.rs`: [`Program`], the public face.

mod archive;
mod aten;
mod budget;
mod exec;
mod fuse;
mod infer;
mod ir;
mod json;
mod meta;
mod plan;
mod program;
mod pt2;
mod state_dict;
mod weights;

pub use budget::ProgramOptions;
pub use exec::{NodeTime, RunStats};
pub use ir::{Dim, TensorSpec};
pub use program::{Program, ProgramSummary};
pub use state_dict::{is_program_archive, is_program_file, program_state_dict};

/// Every ATen op a program may use (`aten.<name>.<overload>`).
pub fn supported_ops() -> &'static [&'static str] {
    aten::SUPPORTED
}
