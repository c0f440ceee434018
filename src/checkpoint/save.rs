//! (in progress)
use crate::checkpoint::value::Value;
use crate::error::Result;
use std::path::Path;

/// Options for [`save_with`].
#[derive(Default)]
pub struct SaveOptions {}

pub fn save(value: &Value, path: impl AsRef<Path>) -> Result<()> {
    save_with(value, path, &SaveOptions::default())
}

pub fn save_with(_value: &Value, _path: impl AsRef<Path>, _opts: &SaveOptions) -> Result<()> {
    Err(crate::error::CheckpointError::UnsupportedFormat {
        detail: "not yet".into(),
    }
    .into())
}
