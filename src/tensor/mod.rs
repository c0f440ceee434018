//! A strided view (dtype, shape, strides, offset) over a shared [`Storage`].

use std::borrow::Cow;
use std::fmt;

use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::storage::{AlignedBuf, Storage};

mod layout;

use layout::gather;
pub use layout::{check_view, contiguous_strides, ViewError};

/// An n-dimensional view of elements of one dtype over a storage. Strides and the storage
/// offset count elements, as in torch.
#[derive(Clone)]
pub struct Tensor {
    storage: Storage,
    dtype: DType,
    shape: Dims,
    strides: Dims,
    offset: usize,
    requires_grad: bool,
    is_parameter: bool,
}

/// Sizes or strides: inline up to rank 4, so cloning a tensor allocates nothing.
pub(crate) type Dims = smallvec::SmallVec<[usize; 4]>;

impl Tensor {
    /// A view of `storage`, checked to lie inside it.
    pub fn from_storage(
        storage: Storage,
        dtype: DType,
        offset: usize,
        shape: Vec<usize>,
        strides: Vec<usize>,
    ) -> Result<Tensor> {
        Tensor::from_storage_dims(storage, dtype, offset, &shape, &strides)
    }

    /// [`Tensor::from_storage`] over borrowed sizes and strides (kept inline up to rank 4).
    pub(crate) fn from_storage_dims(
        storage: Storage,
        dtype: DType,
        offset: usize,
        shape: &[usize],
        strides: &[usize],
    ) -> Result<Tensor> {
        check_view(storage.nbytes(), dtype.size(), offset, shape, strides).map_err(|e| {
            let (ViewError::Overflow(m) | ViewError::Bounds(m)) = e;
            Error::Shape {
                op: "Tensor::from_storage",
                expected: "a view inside its storage".into(),
                got: m,
            }
        })?;
        Ok(Tensor {
            storage,
            dtype,
            shape: Dims::from_slice(shape),
            strides: Dims::from_slice(strides),
            offset,
            requires_grad: false,
            is_parameter: false,
        })
    }

    /// A contiguous tensor owning `data`.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        Self::from_slice(&data, shape)
    }

    /// A contiguous tensor holding a copy of `data`.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        let numel = checked_numel(shape)?;
        if numel != data.len() {
            return Err(Error::Shape {
                op: "Tensor::from_slice",
                expected: format!("{numel} elements for shape {shape:?}"),
                got: format!("{} elements", data.len()),
            });
        }
        Self::from_raw_bytes(T::DTYPE, shape, bytemuck::cast_slice(data))
    }

    /// A contiguous bool tensor.
    pub fn from_bools(data: &[bool], shape: &[usize]) -> Result<Tensor> {
        let bytes: Vec<u8> = data.iter().map(|&b| b as u8).collect();
        let t = Self::from_slice(&bytes, shape)?;
        Ok(t.with_dtype_unchecked(DType::Bool))
    }

    /// A contiguous tensor of `dtype` from native-endian element bytes (C order).
    pub fn from_raw_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor> {
        let numel = checked_numel(shape)?;
        let want = numel
            .checked_mul(dtype.size())
            .ok_or_else(|| Error::Overflow {
                what: format!("bytes of shape {shape:?}"),
            })?;
        if bytes.len() != want {
            return Err(Error::Shape {
                op: "Tensor::from_raw_bytes",
                expected: format!("{want} bytes for {dtype} {shape:?}"),
                got: format!("{} bytes", bytes.len()),
            });
        }
        if dtype == DType::Bool && bytes.iter().any(|&b| b > 1) {
            return Err(Error::InvalidArgument {
                op: "Tensor::from_raw_bytes",
                name: "bytes",
                reason: "bool elements must be 0 or 1".into(),
            });
        }
        let storage = Storage::from_bytes(bytes)?;
        Tensor::from_storage(storage, dtype, 0, shape.to_vec(), contiguous_strides(shape))
    }

    /// A contiguous tensor of zeros.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Tensor> {
        let numel = checked_numel(shape)?;
        let n = numel
            .checked_mul(dtype.size())
            .ok_or_else(|| Error::Overflow {
                what: format!("bytes of shape {shape:?}"),
            })?;
        let storage = Storage::from_buf(AlignedBuf::zeroed(n)?);
        Tensor::from_storage(storage, dtype, 0, shape.to_vec(), contiguous_strides(shape))
    }

    /// A contiguous tensor whose contents the caller will overwrite completely (output
    /// buffers): recycled host memory when available, so hot loops do not fault in fresh pages.
    pub fn empty(dtype: DType, shape: &[usize]) -> Result<Tensor> {
        let numel = checked_numel(shape)?;
        let n = numel
            .checked_mul(dtype.size())
            .ok_or_else(|| Error::Overflow {
                what: format!("bytes of shape {shape:?}"),
            })?;
        let storage = Storage::from_buf(AlignedBuf::for_overwrite(n)?);
        Tensor::from_storage(storage, dtype, 0, shape.to_vec(), contiguous_strides(shape))
    }

    /// The byte range of a contiguous tensor of `T` in its storage; the checks `as_slice` and
    /// `as_mut_slice` share.
    fn contiguous_byte_range<T: Element>(&self, op: &'static str) -> Result<(usize, usize)> {
        if T::DTYPE != self.dtype {
            return Err(Error::DType {
                op,
                operand: "tensor",
                got: self.dtype,
                supported: format!("{} (the element type asked for)", T::DTYPE),
            });
        }
        if !self.is_contiguous() {
            return Err(Error::Shape {
                op,
                expected: "a contiguous tensor".into(),
                got: format!("stride {:?}", self.strides),
            });
        }
        if self.numel() == 0 {
            // Empty views may carry any offset (see `contiguous_bytes`).
            return Ok((0, 0));
        }
        let item = self.dtype.size();
        Ok((self.offset * item, self.numel() * item))
    }

    /// The elements of a contiguous host tensor, mutably. Fails when the storage is shared with
    /// another tensor or is a mapped file: writing would change what others see.
    pub fn as_mut_slice<T: Element>(&mut self) -> Result<&mut [T]> {
        let (start, len) = self.contiguous_byte_range::<T>("Tensor::as_mut_slice")?;
        let bytes = self
            .storage
            .host_bytes_mut()
            .ok_or_else(|| Error::InvalidArgument {
                op: "Tensor::as_mut_slice",
                name: "tensor",
                reason: "its storage is shared, mapped from a file or not on the host; use a copy"
                    .into(),
            })?;
        bytemuck::try_cast_slice_mut(&mut bytes[start..start + len]).map_err(|e| {
            Error::InvalidArgument {
                op: "Tensor::as_mut_slice",
                name: "storage",
                reason: format!("{e:?}"),
            }
        })
    }

    fn with_dtype_unchecked(mut self, dtype: DType) -> Tensor {
        self.dtype = dtype;
        self
    }

    /// Marks this tensor as requiring grad, as torch records it.
    pub fn with_requires_grad(mut self, requires_grad: bool) -> Tensor {
        self.requires_grad = requires_grad;
        self
    }

    /// Marks this tensor as an `nn.Parameter`.
    pub fn with_parameter(mut self, is_parameter: bool) -> Tensor {
        self.is_parameter = is_parameter;
        self
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The size of each dim.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The stride of each dim, in elements.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    /// Where the first element is in the storage, in elements.
    pub fn storage_offset(&self) -> usize {
        self.offset
    }
    /// The storage this tensor views (shared by every view of it).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }
    /// Where the data lives.
    pub fn device(&self) -> Device {
        self.storage.device()
    }
    /// Whether torch recorded `requires_grad=True` (kept for saving; tensorport does no autograd).
    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }
    /// Whether torch saved this as an `nn.Parameter`.
    pub fn is_parameter(&self) -> bool {
        self.is_parameter
    }
    /// Number of dims.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        // Checked at construction.
        self.shape.iter().product()
    }

    /// Whether the elements are laid out in C order without gaps (size-1 dims ignored, as in torch).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1usize;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] == 1 {
                continue;
            }
            if self.shape[i] == 0 {
                return true;
            }
            if self.strides[i] != expected {
                return false;
            }
            expected *= self.shape[i];
        }
        true
    }

    /// Whether two tensors view the same storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        self.storage.ptr_eq(&other.storage)
    }

    /// The tensor's elements in C order as native-endian bytes; borrowed when already contiguous.
    pub fn contiguous_bytes(&self) -> Result<Cow<'_, [u8]>> {
        let bytes = self.storage.host_bytes()?;
        let item = self.dtype.size();
        let n = self.numel();
        if n == 0 {
            // An empty view may sit at any storage offset (torch checks none), even past the end.
            return Ok(Cow::Borrowed(&[]));
        }
        let len = n.checked_mul(item).ok_or_else(|| Error::Overflow {
            what: format!("bytes of a {} tensor of shape {:?}", self.dtype, self.shape),
        })?;
        if self.is_contiguous() {
            let start = self.offset * item;
            return Ok(Cow::Borrowed(&bytes[start..start + len]));
        }
        // A broadcast (stride-0) view can describe far more bytes than its storage holds, so
        // the copy is allocated fallibly.
        let mut out = try_bytes(len, "a contiguous copy of a strided view")?;
        gather(
            bytes,
            item,
            self.offset,
            &self.shape,
            &self.strides,
            &mut out,
        );
        Ok(Cow::Owned(out))
    }

    /// A C-contiguous tensor with the same values, on the same device: `self` when it already
    /// is one. A CUDA tensor is copied on its GPU (a strided-copy kernel, views of up to 8
    /// dims of size > 1).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() && self.offset == 0 {
            return Ok(self.clone());
        }
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            let mut t = crate::ops::copy::cuda::contiguous(self)?;
            t.requires_grad = self.requires_grad;
            t.is_parameter = self.is_parameter;
            return Ok(t);
        }
        let bytes = self.contiguous_bytes()?;
        let mut t = Tensor::from_raw_bytes(self.dtype, &self.shape, &bytes)?;
        t.requires_grad = self.requires_grad;
        t.is_parameter = self.is_parameter;
        Ok(t)
    }

    /// The elements in C order, checked against the dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::DType {
                op: "Tensor::to_vec",
                operand: "tensor",
                got: self.dtype,
                supported: format!("{} (the element type asked for)", T::DTYPE),
            });
        }
        let bytes = self.contiguous_bytes()?;
        // Copy through a fresh Vec<T> so alignment of the source does not matter.
        let mut v: Vec<T> = Vec::new();
        v.try_reserve_exact(self.numel())
            .map_err(|_| Error::OutOfMemory {
                what: format!("Tensor::to_vec of {} elements", self.numel()),
                bytes: bytes.len(),
            })?;
        v.resize(self.numel(), T::zeroed());
        bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(&bytes);
        Ok(v)
    }

    /// The elements of a bool tensor in C order.
    pub fn to_bools(&self) -> Result<Vec<bool>> {
        if self.dtype != DType::Bool {
            return Err(Error::DType {
                op: "Tensor::to_bools",
                operand: "tensor",
                got: self.dtype,
                supported: "bool".into(),
            });
        }
        Ok(self.contiguous_bytes()?.iter().map(|&b| b != 0).collect())
    }

    /// A zero-copy slice of a contiguous host tensor's elements, when the storage is aligned for `T`.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        let (start, len) = self.contiguous_byte_range::<T>("Tensor::as_slice")?;
        let bytes = &self.storage.host_bytes()?[start..start + len];
        bytemuck::try_cast_slice(bytes).map_err(|e| Error::InvalidArgument {
            op: "Tensor::as_slice",
            name: "storage",
            reason: format!("{e:?}; use to_vec instead"),
        })
    }

    /// This tensor on `device`: a copy of its whole storage there (so a view stays a view with
    /// the same shape, strides and offset), or `self` when it already lives there. Host→GPU,
    /// GPU→host and GPU→GPU (a peer copy, or through host memory when the driver refuses one).
    pub fn to(&self, device: &Device) -> Result<Tensor> {
        if self.device() == *device {
            return Ok(self.clone());
        }
        let mut t = self.clone();
        t.storage = self.storage.to_device(*device)?;
        Ok(t)
    }

    /// A tensor with the same data and a new shape, when the view is expressible without a copy
    /// (the tensor is contiguous).
    pub fn reshape_view(&self, shape: &[usize]) -> Result<Tensor> {
        let numel = checked_numel(shape)?;
        if numel != self.numel() || !self.is_contiguous() {
            return Err(Error::Shape {
                op: "Tensor::view",
                expected: format!("a contiguous tensor of {} elements", self.numel()),
                got: format!(
                    "shape {shape:?} on size {:?} stride {:?}",
                    self.shape, self.strides
                ),
            });
        }
        let mut t = self.clone();
        t.shape = Dims::from_slice(shape);
        t.strides = Dims::from_slice(&contiguous_strides(shape));
        Ok(t)
    }
}

/// An empty byte vector with room for `len` bytes, or `OutOfMemory` instead of an abort.
pub(crate) fn try_bytes(len: usize, what: &str) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::OutOfMemory {
        what: what.to_string(),
        bytes: len,
    })?;
    Ok(v)
}

fn checked_numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::Overflow {
            what: format!("number of elements of shape {shape:?}"),
        })
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor({}, shape {:?}, stride {:?}, offset {}, {})",
            self.dtype,
            self.shape,
            self.strides,
            self.offset,
            self.device()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_views_gather_in_c_order() {
        let t = Tensor::from_vec((0..12).map(|x| x as f32).collect(), &[3, 4]).unwrap();
        let tr = Tensor::from_storage(t.storage().clone(), DType::F32, 0, vec![4, 3], vec![1, 4])
            .unwrap();
        assert!(!tr.is_contiguous());
        assert_eq!(
            tr.to_vec::<f32>().unwrap(),
            vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]
        );
        let sl = Tensor::from_storage(t.storage().clone(), DType::F32, 5, vec![2, 2], vec![4, 1])
            .unwrap();
        assert_eq!(sl.to_vec::<f32>().unwrap(), vec![5., 6., 9., 10.]);
        let bc = Tensor::from_storage(t.storage().clone(), DType::F32, 1, vec![3, 2], vec![0, 1])
            .unwrap();
        assert_eq!(bc.to_vec::<f32>().unwrap(), vec![1., 2., 1., 2., 1., 2.]);
        assert!(t.to_vec::<f64>().is_err());
    }

    #[test]
    fn views_outside_storage_are_refused() {
        assert!(matches!(check_view(48, 4, 0, &[3, 4], &[4, 1]), Ok(12)));
        assert!(matches!(
            check_view(48, 4, 1, &[3, 4], &[4, 1]),
            Err(ViewError::Bounds(_))
        ));
        assert!(matches!(check_view(0, 4, 99, &[0, 4], &[4, 1]), Ok(0)));
        assert!(matches!(
            check_view(48, 4, 0, &[1 << 40, 1 << 30], &[1, 1]),
            Err(ViewError::Overflow(_))
        ));
        assert!(matches!(check_view(4, 4, 0, &[], &[]), Ok(1)));
    }
}
