//! torch.save checkpoints: reading (zip and legacy formats, zero-copy where possible), writing
//! (atomic, torch 2.15 layout), `map_location`, and state-dict helpers.

pub mod legacy;
pub mod load;
pub mod pickle;
pub mod placement;
pub mod save;
pub mod state_dict;
pub mod value;
pub mod zip;

pub use load::{load, Checkpoint, Format, OpenOptions, StorageInfo};
pub use placement::MapLocation;
pub use save::{save, save_with, SaveOptions};
pub use state_dict::StateDict;
pub use value::{Dict, DictKind, Value};
