//! Untyped storages: the byte buffers tensors view. A storage is shared (`Arc`) by every tensor
//! that views it, so tied weights and views loaded from a checkpoint stay one buffer.

mod host;
mod lazy;
mod transfer;

use std::fmt;
use std::sync::Arc;

use memmap2::Mmap;

pub use host::{clear_host_cache, AlignedBuf};
use lazy::LazyWindow;
pub(crate) use lazy::Locate;

use crate::device::Device;
use crate::error::{Error, Result};

pub(crate) enum StorageData {
    /// Bytes owned by this process.
    Owned(AlignedBuf),
    /// Bytes owned as they came out of a decoder (an inflated record), kept rather than copied
    /// into an [`AlignedBuf`] so the record exists once. Aligned as the allocator aligns (16
    /// bytes on 64-bit targets); typed slices check alignment, as for mapped windows.
    Vec(Vec<u8>),
    /// A zero-copy window into a memory-mapped checkpoint file.
    Mapped { map: Arc<Mmap>, start: usize },
    /// A window of a mapped file whose start is found (and checked) on first access.
    Lazy(LazyWindow),
    /// No data at all: torch's `meta` device, and the first pass over legacy files.
    Meta,
    /// Device memory on a CUDA GPU.
    #[cfg(feature = "cuda")]
    Cuda(crate::cuda::DeviceBuf),
}

struct StorageInner {
    data: StorageData,
    nbytes: usize,
    device: Device,
}

impl Drop for StorageInner {
    fn drop(&mut self) {
        if let StorageData::Owned(buf) = &mut self.data {
            host::recycle(std::mem::replace(buf, AlignedBuf::empty()));
        }
    }
}

/// A shared, untyped buffer of `nbytes` bytes on one device.
#[derive(Clone)]
pub struct Storage(Arc<StorageInner>);

impl Storage {
    /// A host storage owning `buf`.
    pub fn from_buf(buf: AlignedBuf) -> Storage {
        let nbytes = buf.len();
        Storage(Arc::new(StorageInner {
            data: StorageData::Owned(buf),
            nbytes,
            device: Device::Cpu,
        }))
    }

    /// A host storage owning `bytes` without copying them (e.g. an inflated record).
    pub fn from_vec(bytes: Vec<u8>) -> Storage {
        let nbytes = bytes.len();
        Storage(Arc::new(StorageInner {
            data: StorageData::Vec(bytes),
            nbytes,
            device: Device::Cpu,
        }))
    }

    /// A host storage holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Storage> {
        Ok(Storage::from_buf(AlignedBuf::from_slice(bytes)?))
    }

    /// A zero-copy host storage over `map[start..start + len]`. Callers make sure the window is
    /// inside the map; when `start` is not aligned for the dtype viewing it, typed slices are
    /// refused and callers copy instead (see `Tensor::to_vec`).
    pub fn mapped(map: Arc<Mmap>, start: usize, len: usize) -> Result<Storage> {
        let end = start.checked_add(len).ok_or_else(|| Error::Overflow {
            what: "mapped storage window".into(),
        })?;
        if end > map.len() {
            return Err(Error::Shape {
                op: "Storage::mapped",
                expected: format!("a window inside the {}-byte map", map.len()),
                got: format!("bytes {start}..{end}"),
            });
        }
        Ok(Storage(Arc::new(StorageInner {
            data: StorageData::Mapped { map, start },
            nbytes: len,
            device: Device::Cpu,
        })))
    }

    /// A host storage of `len` bytes in `map`, located by `locate` when its bytes are first
    /// asked for (and copied then if the start is not aligned to `align` bytes).
    pub(crate) fn mapped_lazily(
        map: Arc<Mmap>,
        locate: Box<dyn Locate>,
        len: usize,
        align: usize,
    ) -> Storage {
        Storage(Arc::new(StorageInner {
            data: StorageData::Lazy(LazyWindow::new(map, locate, align)),
            nbytes: len,
            device: Device::Cpu,
        }))
    }

    /// A storage of `nbytes` bytes that holds no data (torch's `meta` device).
    pub fn meta(nbytes: usize) -> Storage {
        Storage(Arc::new(StorageInner {
            data: StorageData::Meta,
            nbytes,
            device: Device::Cpu,
        }))
    }

    /// A storage owning a CUDA device buffer.
    #[cfg(feature = "cuda")]
    pub(crate) fn from_cuda(buf: crate::cuda::DeviceBuf) -> Storage {
        let nbytes = buf.len();
        let device = Device::Cuda(buf.device().ordinal());
        Storage(Arc::new(StorageInner {
            data: StorageData::Cuda(buf),
            nbytes,
            device,
        }))
    }

    /// The device buffer of a CUDA storage.
    #[cfg(feature = "cuda")]
    pub(crate) fn cuda_buf(&self) -> Option<&crate::cuda::DeviceBuf> {
        match &self.0.data {
            StorageData::Cuda(b) => Some(b),
            _ => None,
        }
    }

    /// This storage in host memory: itself when it is on the host, else a copy.
    pub fn to_host(&self) -> Result<Storage> {
        self.to_device(Device::Cpu)
    }

    /// Size in bytes.
    pub fn nbytes(&self) -> usize {
        self.0.nbytes
    }

    /// The device the bytes live on.
    pub fn device(&self) -> Device {
        self.0.device
    }

    /// Whether this storage holds no data (meta).
    pub fn is_meta(&self) -> bool {
        matches!(self.0.data, StorageData::Meta)
    }

    /// Whether this storage is a window into a mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(
            self.0.data,
            StorageData::Mapped { .. } | StorageData::Lazy(_)
        )
    }

    /// The bytes of a host storage.
    pub fn host_bytes(&self) -> Result<&[u8]> {
        match &self.0.data {
            StorageData::Owned(b) => Ok(b.as_slice()),
            StorageData::Vec(v) => Ok(v),
            StorageData::Mapped { map, start } => Ok(&map[*start..*start + self.0.nbytes]),
            StorageData::Lazy(w) => w.bytes(self.0.nbytes),
            StorageData::Meta => Err(Error::MetaStorage),
            #[cfg(feature = "cuda")]
            StorageData::Cuda(_) => Err(Error::NotOnHost {
                device: self.0.device,
            }),
        }
    }

    /// Mutable bytes of a host storage that no other handle shares and that this process owns
    /// (not a mapped file, not meta).
    pub fn host_bytes_mut(&mut self) -> Option<&mut [u8]> {
        match &mut Arc::get_mut(&mut self.0)?.data {
            StorageData::Owned(b) => Some(b.as_mut_slice()),
            StorageData::Vec(v) => Some(v),
            _ => None,
        }
    }

    /// Whether another handle (another tensor, a checkpoint) holds this storage too.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    /// Whether two handles name the same buffer.
    pub fn ptr_eq(&self, other: &Storage) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// An identity for deduplication while this storage is alive.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as *const u8 as usize
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0.data {
            StorageData::Owned(_) | StorageData::Vec(_) => "owned",
            StorageData::Mapped { .. } | StorageData::Lazy(_) => "mapped",
            StorageData::Meta => "meta",
            #[cfg(feature = "cuda")]
            StorageData::Cuda(_) => "device",
        };
        write!(
            f,
            "Storage({} bytes, {kind}, {})",
            self.0.nbytes, self.0.device
        )
    }
}
