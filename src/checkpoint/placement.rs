//! `map_location`: where each storage of a checkpoint goes, decided per storage from its saved
//! location tag, with torch.load's semantics and its wording when a device does not exist.

use std::sync::Arc;

use crate::device::Device;
use crate::error::{CheckpointError, Error, Result};
use crate::storage::Storage;
use crate::torch_device::{default_restore, Restore, TorchDevice};

/// A user function of the saved location tag (`map_location=callable`).
pub type LocationFn = Arc<dyn Fn(&str) -> Option<Device> + Send + Sync>;

/// Where to place each storage, with torch.load's `map_location` semantics.
#[derive(Clone, Default)]
pub enum MapLocation {
    /// Keep each storage's saved location (`map_location=None`).
    #[default]
    Keep,
    /// Every storage to this one device, whatever its saved tag.
    To(Device),
    /// Exact saved tag → device (`{'cuda:1': 'cuda:0'}`); tags not listed keep their own location.
    Remap(Vec<(String, Device)>),
    /// A function of the saved tag; `None` falls back to the saved location.
    Func(LocationFn),
}

impl std::fmt::Debug for MapLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MapLocation::Keep => f.write_str("Keep"),
            MapLocation::To(d) => write!(f, "To({d})"),
            MapLocation::Remap(m) => f.debug_tuple("Remap").field(m).finish(),
            MapLocation::Func(_) => f.write_str("Func(..)"),
        }
    }
}

impl MapLocation {
    /// Parses the CLI form: `cpu`, `cuda:N`, or `SRC=DST[,SRC=DST...]` (e.g. `cuda:1=cuda:0`).
    pub fn parse(text: &str) -> Result<MapLocation> {
        if !text.contains('=') {
            return Ok(MapLocation::To(text.parse()?));
        }
        let mut table = Vec::new();
        for pair in text.split(',') {
            let (src, dst) = pair.split_once('=').ok_or_else(|| Error::InvalidArgument {
                op: "map_location",
                name: "map_location",
                reason: format!("'{pair}' is not SRC=DST"),
            })?;
            // Validate the source tag's syntax; it is matched as an exact string like torch's dict.
            TorchDevice::parse(src)?;
            table.push((src.to_string(), dst.parse()?));
        }
        Ok(MapLocation::Remap(table))
    }

    /// The saved tag rewritten as this mapping would place it (for `convert`, which retags
    /// storages without moving them).
    pub fn retag(&self, saved: &str) -> String {
        match self.map(saved) {
            Some(d) => d.location_tag(),
            None => saved.to_string(),
        }
    }

    /// The device this mapping names for `saved`, or `None` when the saved tag stands.
    fn map(&self, saved: &str) -> Option<Device> {
        match self {
            MapLocation::Keep => None,
            MapLocation::To(d) => Some(*d),
            MapLocation::Remap(t) => t.iter().find(|(s, _)| s == saved).map(|(_, d)| *d),
            MapLocation::Func(f) => f(saved),
        }
    }
}

/// Resolves and checks the target of each storage while a checkpoint is read.
///
/// A storage that cannot be placed (no CUDA, no such GPU, a failed upload, host memory that
/// cannot be allocated) is not a format error, so it is not a [`CheckpointError`]: the placer
/// keeps the typed [`Error`] ([`Placer::fail`]) and gives the pickle machine a stand-in that
/// stops it; [`Placer::take_failure`] hands the real error back to the caller, which returns
/// it instead of the stand-in.
pub(crate) struct Placer {
    map_location: MapLocation,
    host_only: bool,
    failure: Option<Error>,
    /// Told the bytes placed so far after each storage, and the file's size.
    progress: Option<(Progress, u64)>,
    placed: u64,
}

/// A progress callback: `(bytes done, bytes in all)`, called from the reading thread after
/// each storage is read and placed, or written. Cheap work only (a progress bar's update).
pub type Progress = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

impl Placer {
    /// Places storages as `map_location` says, or keeps everything on the host and only
    /// records saved tags (`host_only`: inspect and convert need no device).
    pub(crate) fn new(map_location: &MapLocation, host_only: bool) -> Placer {
        Placer {
            map_location: map_location.clone(),
            host_only,
            failure: None,
            progress: None,
            placed: 0,
        }
    }

    /// Reports each placed storage to `progress`, out of `total` bytes.
    pub(crate) fn report_to(&mut self, progress: Progress, total: u64) {
        self.progress = Some((progress, total));
    }

    /// The device a storage saved at `tag` goes to; `None` means torch's `meta` (no data read).
    /// Errors name the storage only generically; readers that know its key use
    /// [`Placer::target_for`].
    pub(crate) fn target(&mut self, tag: &str) -> Result<Option<Device>, CheckpointError> {
        self.target_for("a storage", tag)
    }

    /// The device storage `storage` (e.g. `storage data/0`), saved at `tag`, goes to: where
    /// `map_location` sends it, else where torch's default restore would (refusing, naming the
    /// storage and the tag, what torch refuses or tensorport cannot hold).
    /// Whether every storage stays on the host as saved (`inspect`, `convert`, `open`).
    pub(crate) fn is_host_only(&self) -> bool {
        self.host_only
    }

    pub(crate) fn target_for(
        &mut self,
        storage: &str,
        tag: &str,
    ) -> Result<Option<Device>, CheckpointError> {
        if self.host_only {
            return Ok(Some(Device::Cpu));
        }
        if let Some(d) = self.map_location.map(tag) {
            return Ok(Some(d));
        }
        let refuse = |reason: String| CheckpointError::UnrestorableLocation {
            storage: storage.to_string(),
            location: tag.to_string(),
            reason,
        };
        match default_restore(tag).map_err(refuse)? {
            Restore::Cpu => Ok(Some(Device::Cpu)),
            Restore::Meta => Ok(None),
            Restore::Cuda(i) => Ok(Some(Device::Cuda(i))),
            Restore::Elsewhere(kind) => Err(refuse(format!(
                "tensorport places tensors only on cpu and cuda (torch restores {kind} storages \
                 only on a machine with that device)"
            ))),
        }
    }

    /// Moves a host storage saved at `tag` to `target` (`None`: meta, kept as it is).
    pub(crate) fn place(
        &mut self,
        storage: Storage,
        target: Option<Device>,
        tag: &str,
    ) -> Result<Storage, CheckpointError> {
        self.placed = self.placed.saturating_add(storage.nbytes() as u64);
        if let Some((f, total)) = &self.progress {
            f(self.placed.min(*total), *total);
        }
        let Some(device) = target else {
            return Ok(storage);
        };
        storage.to_device(device).map_err(|e| {
            self.fail(match e {
                Error::CudaUnavailable { device, reason, .. } => Error::CudaUnavailable {
                    device,
                    reason,
                    saved_location: Some(tag.to_string()),
                },
                other => other,
            })
        })
    }

    /// Keeps `e`, a failure that is not the file's fault, and returns the stand-in that stops
    /// the pickle machine (see the type's comment). A checkpoint error is returned as it is.
    pub(crate) fn fail(&mut self, e: Error) -> CheckpointError {
        match e {
            Error::Checkpoint(c) => c,
            other => {
                let stand_in = CheckpointError::UnsupportedFormat {
                    detail: format!("stopped by: {other}"),
                };
                self.failure = Some(other);
                stand_in
            }
        }
    }

    /// The error that stopped placement, if one did (see the type's comment).
    pub(crate) fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
