//! A `.pt2` program's tensors without its graph: what `convert` writes out of an archive.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::MmapOptions;

use crate::checkpoint::zip::read::ZipIndex;
use crate::checkpoint::{MapLocation, StateDict};
use crate::error::{CheckpointError, Result};
use crate::graph::budget::ProgramOptions;
use crate::graph::{archive, weights};

/// Whether `bytes` are a `torch.export` archive: a zip with an `archive_format` record (a
/// `torch.save` zip has `data.pkl` instead). Looks at the zip directory only.
pub fn is_program_archive(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
        && ZipIndex::parse(bytes).is_ok_and(|index| index.get("archive_format").is_some())
}

/// [`is_program_archive`] of the file at `path` (mapped; only its zip directory is read).
pub fn is_program_file(path: impl AsRef<Path>) -> Result<bool> {
    let path = path.as_ref();
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Ok(false);
    }
    // SAFETY: read-only; see Checkpoint::open_with for the truncation caveat.
    let map = unsafe { MmapOptions::new().map(&file) }.map_err(io)?;
    Ok(is_program_archive(&map))
}

/// The parameters, buffers and constants of the program in `path` by name, in the archive's
/// config order: `ExportedProgram.state_dict` followed by its `constants`, with each tensor's
/// dtype, shape, strides and aliasing as saved, placed as `map_location` says. Reads neither
/// the graph nor its ops, so a program with ops tensorport cannot run still gives its weights.
pub fn program_state_dict(path: impl AsRef<Path>, map_location: &MapLocation) -> Result<StateDict> {
    let path = path.as_ref();
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let map = if len == 0 {
        None
    } else {
        // SAFETY: read-only; see Checkpoint::open_with for the truncation caveat.
        Some(Arc::new(
            unsafe { MmapOptions::new().map(&file) }.map_err(io)?,
        ))
    };
    let opts = ProgramOptions::to(map_location);
    let a = archive::open(map, opts.max_bytes)?;
    let feeds = weights::listed_feeds(&a)?;
    let loaded = weights::load_feeds(&a, &feeds, map_location)?;
    let mut sd = StateDict::new();
    for ((_, fqn, _), (_, t, device)) in feeds.iter().zip(loaded) {
        sd.insert(fqn, t.to(&device)?);
    }
    Ok(sd)
}
