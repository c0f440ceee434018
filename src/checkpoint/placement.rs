//! `map_location`: where each storage of a checkpoint goes, decided per storage from its saved
//! location tag, with torch.load's semantics and its wording when a device does not exist.

use std::sync::Arc;

use crate::checkpoint::load::OpenOptions;
use crate::device::{Device, TorchDevice};
use crate::error::{CheckpointError, Error, Result};
use crate::storage::Storage;

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
pub(crate) struct Placer {
    map_location: MapLocation,
    host_only: bool,
    cuda_count: Option<usize>,
}

impl Placer {
    pub(crate) fn new(opts: &OpenOptions) -> Result<Placer> {
        Ok(Placer {
            map_location: opts.map_location.clone(),
            host_only: opts.host_only,
            cuda_count: None,
        })
    }

    /// The device a storage saved at `tag` goes to; `None` means torch's `meta` (no data read).
    pub(crate) fn target(&mut self, tag: &str) -> Result<Option<Device>, CheckpointError> {
        if self.host_only {
            return Ok(Some(Device::Cpu));
        }
        if let Some(d) = self.map_location.map(tag) {
            return Ok(Some(d));
        }
        let unknown = || CheckpointError::DeviceUnavailable {
            location: tag.to_string(),
            message: format!(
                "don't know how to restore data location of a storage tagged with '{tag}'; \
                 use map_location to place it on cpu or cuda"
            ),
        };
        let dev = TorchDevice::parse(tag).map_err(|_| unknown())?;
        match dev.kind.as_str() {
            "meta" => Ok(None),
            "cpu" | "cuda" => dev.to_device().map(Some).map_err(|_| unknown()),
            _ => Err(unknown()),
        }
    }

    /// Moves a host storage to `target`, checking that the device exists.
    pub(crate) fn place(
        &mut self,
        storage: Storage,
        target: Option<Device>,
        tag: &str,
    ) -> Result<Storage, CheckpointError> {
        match target {
            None | Some(Device::Cpu) => Ok(storage),
            Some(Device::Cuda(ordinal)) => {
                let count = match self.cuda_count {
                    Some(c) => c,
                    None => {
                        let c = crate::device::cuda_device_count();
                        self.cuda_count = Some(c);
                        c
                    }
                };
                if count == 0 {
                    return Err(CheckpointError::DeviceUnavailable {
                        location: tag.to_string(),
                        message: format!(
                            "Attempting to deserialize object on a CUDA device (saved as '{tag}', \
                             placed on cuda:{ordinal}) but no CUDA device is available. If you \
                             are running on a CPU-only machine, use map_location=cpu \
                             (MapLocation::To(Device::Cpu), or --map-location cpu) to map your \
                             storages to the CPU."
                        ),
                    });
                }
                if ordinal >= count {
                    return Err(CheckpointError::DeviceUnavailable {
                        location: tag.to_string(),
                        message: format!(
                            "Attempting to deserialize object on CUDA device {ordinal} but only \
                             {count} CUDA devices are present; use map_location to map your \
                             storages to an existing device."
                        ),
                    });
                }
                crate::device::to_cuda(&storage, ordinal).map_err(|e| {
                    CheckpointError::DeviceUnavailable {
                        location: tag.to_string(),
                        message: e.to_string(),
                    }
                })
            }
        }
    }
}
