//! A `.pt2` program's tensors without its graph: what `convert` writes out of an archive.

use std::path::Path;

use crate::checkpoint::zip::read::ZipIndex;
use crate::checkpoint::{MapLocation, StateDict};
use crate::error::Result;
use crate::graph::budget::ProgramOptions;
use crate::graph::program::map_file;
use crate::graph::{archive, weights};

/// Whether `bytes` are a `torch.export` archive: a zip with an `archive_format` record (a
/// `torch.save` zip has `data.pkl` instead). Looks at the zip directory only.
pub fn is_program_archive(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
        && ZipIndex::parse(bytes).is_ok_and(|index| index.get("archive_format").is_some())
}

/// [`is_program_archive`] of the file at `path` (mapped; only its zip directory is read).
pub fn is_program_file(path: impl AsRef<Path>) -> Result<bool> {
    Ok(map_file(path.as_ref())?.is_some_and(|m| is_program_archive(&m)))
}

/// The parameters, buffers and constants of the program in `path` by name, in the archive's
/// config order: `ExportedProgram.state_dict` followed by its `constants`, with each tensor's
/// dtype, shape, strides and aliasing as saved, placed as `map_location` says. Reads neither
/// the graph nor its ops, so a program with ops tensorport cannot run still gives its weights.
pub fn program_state_dict(path: impl AsRef<Path>, map_location: &MapLocation) -> Result<StateDict> {
    let map = map_file(path.as_ref())?;
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
