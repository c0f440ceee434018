//! Windows of a mapped file whose start is found on first access. Opening a checkpoint of
//! 10,000 records would otherwise read 10,000 local zip headers scattered through the file, one
//! page fault each, before anyone asks for a byte; here each record's header is read (and
//! checked) when its bytes are first asked for, and never for a tensor nobody reads. The check
//! always runs before the bytes are exposed.

use std::sync::{Arc, OnceLock};

use memmap2::Mmap;

use super::AlignedBuf;
use crate::error::{Error, Result};

/// Where a lazily located window starts: what a container format checks before its bytes may
/// be used (a zip record's local header, for instance).
pub(crate) trait Locate: Send + Sync {
    /// The window's start in `map`, after the format's checks.
    fn locate(&self, map: &[u8]) -> Result<usize>;
}

/// A window found once: in place when its start is aligned for the dtype viewing it, else an
/// aligned copy (as [`Storage::mapped`](super::Storage::mapped)'s callers copy).
enum Found {
    InPlace(usize),
    Copied(AlignedBuf),
}

pub(crate) struct LazyWindow {
    map: Arc<Mmap>,
    locate: Box<dyn Locate>,
    align: usize,
    found: OnceLock<Found>,
}

impl LazyWindow {
    pub(crate) fn new(map: Arc<Mmap>, locate: Box<dyn Locate>, align: usize) -> LazyWindow {
        LazyWindow {
            map,
            locate,
            align: align.max(1),
            found: OnceLock::new(),
        }
    }

    /// The window's `len` bytes, located (and checked) on the first call. A failed check is
    /// not cached: each access reports it again.
    pub(crate) fn bytes(&self, len: usize) -> Result<&[u8]> {
        if let Some(found) = self.found.get() {
            return Ok(self.view(found, len));
        }
        let start = self.locate.locate(&self.map)?;
        let window = start
            .checked_add(len)
            .and_then(|end| self.map.get(start..end))
            .ok_or_else(|| Error::Shape {
                op: "Storage (mapped record)",
                expected: format!("a window inside the {}-byte map", self.map.len()),
                got: format!("{len} bytes at offset {start}"),
            })?;
        let found = if (window.as_ptr() as usize).is_multiple_of(self.align) {
            Found::InPlace(start)
        } else {
            Found::Copied(AlignedBuf::from_slice(window)?)
        };
        Ok(self.view(self.found.get_or_init(|| found), len))
    }

    fn view<'a>(&'a self, found: &'a Found, len: usize) -> &'a [u8] {
        match found {
            // In bounds: `bytes` checked the window before recording it.
            Found::InPlace(start) => self.map.get(*start..start + len).unwrap_or(&[]),
            Found::Copied(buf) => buf.as_slice(),
        }
    }
}
