//! The pickle machine: a reader that never executes anything (globals are resolved symbolically
//! against an allowlist), and a writer that emits only what torch's weights-only loader accepts.

pub mod allowlist;
pub mod ops;
pub mod vm;
pub mod write;

use crate::dtype::DType;
use crate::error::CheckpointError;
use crate::storage::Storage;

/// Caps that keep hostile pickles from exhausting memory or time.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Deepest container nesting in the result (also bounds cycles).
    pub max_depth: usize,
    /// Most objects the machine may create, and most objects its result may expand to when
    /// shared objects are counted at every reference (memo bombs).
    pub max_objects: u64,
    /// Most bytes of strings and byte strings the machine may hold.
    pub max_string_bytes: u64,
    /// Working memory the reader may spend on one pickle, in bytes: the pickle record itself
    /// when it has to be inflated, and the machine's objects, stack, memo and frozen values.
    /// A hostile file of a few KB can describe gigabytes of objects; this is what stops it.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 1000,
            max_objects: 20_000_000,
            max_string_bytes: 1 << 30,
            max_bytes: 512 << 20,
        }
    }
}

/// One storage named by a persistent id, asked of the [`StorageResolver`].
#[derive(Clone, Debug)]
pub struct StorageRequest<'a> {
    /// The record key (`data/<key>` in zip files; a decimal pointer in legacy files).
    pub key: &'a str,
    /// The dtype of the typed storage class, or `None` for `UntypedStorage` (numel in bytes).
    pub dtype: Option<DType>,
    /// The saved location tag (`cpu`, `cuda:1`, ...).
    pub location: &'a str,
    /// Size of the whole storage in elements of `dtype` (bytes when untyped).
    pub numel: u64,
    /// Legacy storage views: `(root_key, offset, size)` in elements.
    pub view: Option<(&'a str, u64, u64)>,
}

/// Supplies the bytes behind persistent ids. Called once per distinct key; the machine caches
/// the result, so every tensor naming the key shares one storage.
pub trait StorageResolver {
    fn resolve(&mut self, req: &StorageRequest<'_>) -> Result<Storage, CheckpointError>;

    /// Whether persistent ids carry legacy view metadata: torch's legacy loader unpacks exactly
    /// six items `('storage', class, root_key, location, numel, view_metadata)`, its zip loader
    /// exactly five, and each refuses the other's shape.
    fn legacy_ids(&self) -> bool {
        false
    }
}
