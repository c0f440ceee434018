//! torch.save checkpoints: reading every file `torch.save` writes (zip and legacy formats,
//! zero-copy where possible) with torch.load's `map_location` semantics, writing files
//! `torch.load` reads back bit-identically (atomically), the Python value tree they hold, and
//! state-dict helpers.

mod legacy;
mod open;
mod pickle;
pub(crate) mod placement;
pub(crate) mod records;
mod safetensors;
mod save;
mod state_dict;
mod value;
pub(crate) mod zip;
mod zip_archive;

pub use crate::torch_device::location_restorable;
pub use open::{load, Checkpoint, Format, OpenOptions};
pub use pickle::Limits;
pub use placement::{LocationFn, MapLocation, Progress};
pub use records::StorageInfo;
pub use safetensors::{save_safetensors, SafetensorsOptions, SharedPolicy};
pub use save::{save, save_with, SaveOptions};
pub use state_dict::{add_prefix, strip_prefix, StateDict, STATE_DICT_KEYS};
pub use value::{Dict, DictKind, HashKey, Value};
