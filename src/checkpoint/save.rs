//! Writing checkpoints that torch.load reads: the torch 2.15 zip layout, written atomically
//! (a temporary file in the same folder, fsync, rename, fsync of the folder), so a crash
//! mid-save never destroys the previous file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::checkpoint::pickle::write::pickle_checkpoint;
use crate::checkpoint::value::Value;
use crate::checkpoint::zip::write::ZipWriter;
use crate::error::{Error, Result};
use crate::storage::Storage;

/// Options for [`save_with`].
#[derive(Default)]
pub struct SaveOptions<'a> {
    /// The location tag written for each storage; by default the storage's own device
    /// (`cpu`, `cuda:N`), as torch writes it.
    pub location_of: Option<&'a dyn Fn(&Storage) -> String>,
    /// Told the bytes of storage written so far, out of all the storages' bytes.
    pub progress: Option<&'a dyn Fn(u64, u64)>,
}

/// Saves `value` as `torch.save(value, path)` would.
pub fn save(value: &Value, path: impl AsRef<Path>) -> Result<()> {
    save_with(value, path, &SaveOptions::default())
}

/// The archive folder torch uses: the file name without its last extension, when that is plain
/// ASCII; otherwise torch goes through a Python stream and writes `archive`.
fn archive_prefix(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let plain = !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if plain {
        stem.to_string()
    } else {
        "archive".to_string()
    }
}

/// Saves `value` with explicit options.
pub fn save_with(value: &Value, path: impl AsRef<Path>, opts: &SaveOptions<'_>) -> Result<()> {
    let path = path.as_ref();
    let default_loc = |s: &Storage| s.device().location_tag();
    let location_of = opts.location_of.unwrap_or(&default_loc);
    let pickled = pickle_checkpoint(value, location_of)?;

    write_atomically(path, &mut |out| {
        let mut zw = ZipWriter::new(out, &archive_prefix(path));
        let w = io_error(path, "writing");
        zw.write_record("data.pkl", &[&pickled.data_pkl])
            .map_err(w)?;
        zw.write_record(".format_version", &[b"1"]).map_err(w)?;
        zw.write_record(".storage_alignment", &[b"64"]).map_err(w)?;
        zw.write_record("byteorder", &[b"little"]).map_err(w)?;
        let total: u64 = pickled
            .storages
            .iter()
            .map(|(_, s)| s.nbytes() as u64)
            .sum();
        let mut done = 0u64;
        for (key, storage) in &pickled.storages {
            // GPU storages are copied to the host one at a time.
            let host = storage.to_host()?;
            let bytes = host.host_bytes()?;
            zw.write_record(&format!("data/{key}"), &[bytes])
                .map_err(w)?;
            done += bytes.len() as u64;
            if let Some(p) = opts.progress {
                p(done, total);
            }
        }
        zw.write_record("version", &[b"3\n"]).map_err(w)?;
        let out = zw.finish().map_err(w)?;
        out.flush().map_err(w)
    })
}

fn io_error<'a>(path: &'a Path, op: &'static str) -> impl Fn(std::io::Error) -> Error + Copy + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `path` through `write`, atomically: a temporary file in the same folder, fsync,
/// rename, fsync of the folder, so a crash or an error mid-write never destroys the previous
/// file (and never truncates a file that is mapped, perhaps by the checkpoint being converted).
pub(crate) fn write_atomically(
    path: &Path,
    write: &mut dyn FnMut(&mut BufWriter<&File>) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".tensorport-save-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_error(path, "creating a temporary file beside"))?;
    {
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        write(&mut out)?;
        out.flush().map_err(io_error(path, "writing"))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(io_error(path, "syncing"))?;
    // Keep the permissions a plain create would give (tempfile makes 0600 files); best effort,
    // since not every filesystem has permissions.
    let perms = std::fs::metadata(path)
        .map(|m| m.permissions())
        .ok()
        .or_else(default_permissions);
    if let Some(p) = perms {
        let _ = tmp.as_file().set_permissions(p);
    }
    tmp.persist(path).map_err(|e| Error::Io {
        op: "renaming the temporary file onto",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // The rename is durable only once the folder is synced; not every platform can open one.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn default_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<std::fs::Permissions> {
    None
}
