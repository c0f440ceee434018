//! Opening checkpoints and placing their storages (`map_location`).

use std::path::Path;
use std::sync::Arc;

use crate::checkpoint::state_dict::StateDict;
use crate::checkpoint::value::Value;
use crate::error::Result;

/// Which container a checkpoint came in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Zip,
    Legacy,
}

/// Where to place each storage, with torch.load's `map_location` semantics.
#[derive(Clone)]
pub enum MapLocation {
    /// Keep each storage's saved location (`map_location=None`).
    Keep,
    /// Every storage to this one device.
    To(crate::device::Device),
    /// Saved tag → target device; tags not listed keep their own location.
    Remap(Vec<(String, crate::device::Device)>),
    /// A function of the saved tag; `None` falls back to the saved location.
    Func(Arc<dyn Fn(&str) -> Option<crate::device::Device> + Send + Sync>),
}

/// What a checkpoint records about one storage.
#[derive(Clone, Debug)]
pub struct StorageInfo {
    pub key: String,
    pub location: String,
}

/// An opened checkpoint.
pub struct Checkpoint {
    value: Value,
    format: Format,
}

impl Checkpoint {
    pub fn open(_path: impl AsRef<Path>) -> Result<Checkpoint> {
        todo_err()
    }
    pub fn value(&self) -> &Value {
        &self.value
    }
    pub fn format(&self) -> Format {
        self.format
    }
    pub fn state_dict(&self) -> Result<StateDict> {
        StateDict::from_value(&self.value)
    }
}

fn todo_err<T>() -> Result<T> {
    Err(crate::error::CheckpointError::UnsupportedFormat {
        detail: "not yet".into(),
    }
    .into())
}

/// Reads a checkpoint and places its storages.
pub fn load(path: impl AsRef<Path>, _map_location: &MapLocation) -> Result<Checkpoint> {
    Checkpoint::open(path)
}
