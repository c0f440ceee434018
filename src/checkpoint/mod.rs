//! torch.save checkpoints: reading (zip and legacy formats, zero-copy where possible), writing
//! (atomic, torch 2.15 layout), `map_location`, and state-dict helpers.

pub mod legacy;
pub mod open;
pub mod pickle;
pub mod placement;
mod records;
pub mod save;
pub mod state_dict;
pub mod value;
pub mod zip;
mod zip_archive;

pub use open::{load, Checkpoint, Format, OpenOptions};
pub use placement::MapLocation;
pub use records::StorageInfo;
pub use save::{save, save_with, SaveOptions};
pub use state_dict::StateDict;
pub use value::{Dict, DictKind, Value};
