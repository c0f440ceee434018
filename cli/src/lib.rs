//! What the `tensorport` command shares with the tests: [`describe`], the canonical JSON
//! description of a checkpoint's value tree that `tensorport inspect --json` prints and
//! `tests/interop/describe.py` writes from what `torch.load` returns.

pub mod describe;
