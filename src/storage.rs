//! Untyped storages: the byte buffers tensors view. A storage is shared (`Arc`) by every tensor
//! that views it, so tied weights and views loaded from a checkpoint stay one buffer.

use std::alloc::{self, Layout};
use std::fmt;
use std::sync::Arc;

use memmap2::Mmap;

use crate::device::Device;
use crate::error::{Error, Result};

/// Alignment of owned host buffers: a cache line, enough for every dtype and for SIMD loads.
pub const HOST_ALIGN: usize = 64;

/// A zero-initialised, 64-byte-aligned host buffer.
pub struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only hands out &[u8].
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// Allocates `len` zero bytes. Fresh zeroed pages come from the kernel lazily, so this costs
    /// nothing until the buffer is touched.
    pub fn zeroed(len: usize) -> Result<AlignedBuf> {
        if len == 0 {
            return Ok(AlignedBuf {
                ptr: std::ptr::NonNull::<u64>::dangling().cast(),
                len: 0,
            });
        }
        let layout = Layout::from_size_align(len, HOST_ALIGN).map_err(|_| Error::Overflow {
            what: format!("host buffer of {len} bytes"),
        })?;
        // SAFETY: layout has non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        match std::ptr::NonNull::new(ptr) {
            Some(ptr) => Ok(AlignedBuf { ptr, len }),
            None => Err(Error::Overflow {
                what: format!("allocating a host buffer of {len} bytes"),
            }),
        }
    }

    /// A buffer of `len` bytes whose contents the caller will overwrite completely: a recycled
    /// buffer of exactly that size when the host cache has one (no page faults), else fresh
    /// zeroed memory. Recycled contents are stale but initialised.
    pub fn for_overwrite(len: usize) -> Result<AlignedBuf> {
        match pool::take(len) {
            Some(b) => Ok(b),
            None => AlignedBuf::zeroed(len),
        }
    }

    /// Copies `bytes` into a new aligned buffer.
    pub fn from_slice(bytes: &[u8]) -> Result<AlignedBuf> {
        let mut b = AlignedBuf::zeroed(bytes.len())?;
        b.as_mut_slice().copy_from_slice(bytes);
        Ok(b)
    }

    fn empty() -> AlignedBuf {
        AlignedBuf {
            ptr: std::ptr::NonNull::<u64>::dangling().cast(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for len bytes (or dangling with len 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we hold &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: allocated in `zeroed` with this exact layout.
            unsafe {
                alloc::dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.len, HOST_ALIGN),
                )
            }
        }
    }
}

pub(crate) enum StorageData {
    /// Bytes owned by this process.
    Owned(AlignedBuf),
    /// A zero-copy window into a memory-mapped checkpoint file.
    Mapped { map: Arc<Mmap>, start: usize },
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
            pool::give(std::mem::replace(buf, AlignedBuf::empty()));
        }
    }
}

/// A small cache of large freed host buffers, so hot loops that allocate same-sized outputs
/// (inference at a fixed batch size) reuse warm memory instead of faulting in fresh pages,
/// like PyTorch's caching allocators. Bounded in total size; only exact sizes are reused.
mod pool {
    use super::AlignedBuf;
    use std::sync::Mutex;

    /// Buffers smaller than this come cheaply from the system allocator.
    const MIN_BYTES: usize = 1 << 20;
    /// At most this much memory is kept idle in the cache.
    const MAX_CACHED: usize = 1 << 30;

    static CACHE: Mutex<Vec<AlignedBuf>> = Mutex::new(Vec::new());

    pub(super) fn take(len: usize) -> Option<AlignedBuf> {
        if len < MIN_BYTES {
            return None;
        }
        let mut c = CACHE.lock().ok()?;
        let i = c.iter().position(|b| b.len() == len)?;
        Some(c.swap_remove(i))
    }

    pub(super) fn give(buf: AlignedBuf) {
        if buf.len() < MIN_BYTES || buf.len() > MAX_CACHED {
            return;
        }
        let Ok(mut c) = CACHE.lock() else { return };
        let mut total: usize = c.iter().map(|b| b.len()).sum::<usize>() + buf.len();
        // Evict the oldest buffers until the new one fits.
        while total > MAX_CACHED && !c.is_empty() {
            total -= c.remove(0).len();
        }
        c.push(buf);
    }

    /// Frees every cached buffer.
    pub fn clear() {
        if let Ok(mut c) = CACHE.lock() {
            c.clear();
        }
    }
}

/// Frees the host buffers kept for reuse.
pub fn clear_host_cache() {
    pool::clear();
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
    pub fn from_cuda(buf: crate::cuda::DeviceBuf) -> Storage {
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
    pub fn cuda_buf(&self) -> Option<&crate::cuda::DeviceBuf> {
        match &self.0.data {
            StorageData::Cuda(b) => Some(b),
            _ => None,
        }
    }

    /// A copy of this storage on `device` (host↔GPU, GPU↔GPU); the same storage when it
    /// already lives there. One call makes one copy of the whole storage, so tensors viewing it
    /// keep their offsets and strides.
    pub fn to_device(&self, device: Device) -> Result<Storage> {
        if device == self.device() {
            return Ok(self.clone());
        }
        #[cfg(feature = "cuda")]
        {
            crate::cuda::move_storage(self, device)
        }
        #[cfg(not(feature = "cuda"))]
        {
            Err(Error::NoCuda {
                reason: crate::error::NoCudaReason::NotCompiled,
            })
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
        matches!(self.0.data, StorageData::Mapped { .. })
    }

    /// The bytes of a host storage.
    pub fn host_bytes(&self) -> Result<&[u8]> {
        match &self.0.data {
            StorageData::Owned(b) => Ok(b.as_slice()),
            StorageData::Mapped { map, start } => Ok(&map[*start..*start + self.0.nbytes]),
            StorageData::Meta => Err(Error::DeviceUnavailable {
                device: "meta".into(),
                message: "a meta storage holds no data".into(),
            }),
            #[cfg(feature = "cuda")]
            StorageData::Cuda(_) => Err(Error::DeviceUnavailable {
                device: self.0.device.to_string(),
                message: format!(
                    "the storage lives on {}; copy it to the host first (Storage::to_host, \
                     Tensor::to(&Device::Cpu))",
                    self.0.device
                ),
            }),
        }
    }

    /// Mutable bytes of a host storage that no other handle shares and that this process owns
    /// (not a mapped file, not meta).
    pub fn host_bytes_mut(&mut self) -> Option<&mut [u8]> {
        match &mut Arc::get_mut(&mut self.0)?.data {
            StorageData::Owned(b) => Some(b.as_mut_slice()),
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
            StorageData::Owned(_) => "owned",
            StorageData::Mapped { .. } => "mapped",
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
