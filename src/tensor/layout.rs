//! Strided-layout arithmetic: view bounds checks, contiguous strides, and gathering a strided
//! view into C order. Pure functions over shapes and bytes, shared by tensors, checkpoints and ops.

/// Why a view does not fit its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewError {
    /// A size or extent computation overflowed 64 bits.
    Overflow(String),
    /// The view reaches past the end of the storage, or is otherwise inconsistent.
    Bounds(String),
}

/// Checks that a view of `shape`/`strides` at element `offset` lies inside a storage of
/// `nbytes` bytes holding elements of `itemsize` bytes. Returns the number of elements.
pub fn check_view(
    nbytes: usize,
    itemsize: usize,
    offset: usize,
    shape: &[usize],
    strides: &[usize],
) -> Result<usize, ViewError> {
    if shape.len() != strides.len() {
        return Err(ViewError::Bounds(format!(
            "size has {} dimensions but stride has {}",
            shape.len(),
            strides.len()
        )));
    }
    let numel = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| ViewError::Overflow(format!("number of elements of size {shape:?}")))?;
    // numel × itemsize must be addressable even when the view is a broadcast.
    numel
        .checked_mul(itemsize)
        .ok_or_else(|| ViewError::Overflow(format!("bytes of size {shape:?}")))?;
    if numel == 0 {
        return Ok(0);
    }
    let mut last = offset;
    for (&d, &s) in shape.iter().zip(strides) {
        let step = (d - 1)
            .checked_mul(s)
            .and_then(|x| last.checked_add(x))
            .ok_or_else(|| {
                ViewError::Overflow(format!("extent of size {shape:?} stride {strides:?}"))
            })?;
        last = step;
    }
    let end_bytes = last
        .checked_add(1)
        .and_then(|e| e.checked_mul(itemsize))
        .ok_or_else(|| ViewError::Overflow(format!("extent of size {shape:?}")))?;
    if end_bytes > nbytes {
        return Err(ViewError::Bounds(format!(
            "view with size {shape:?}, stride {strides:?}, offset {offset} needs {end_bytes} bytes \
             but its storage has {nbytes}"
        )));
    }
    Ok(numel)
}

/// C-contiguous strides for `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1usize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1));
    }
    strides
}

/// Appends the elements of a strided view to `out` in C order. Innermost unit-stride runs are
/// copied as one slice.
pub(crate) fn gather(
    src: &[u8],
    item: usize,
    offset: usize,
    shape: &[usize],
    strides: &[usize],
    out: &mut Vec<u8>,
) {
    if shape.contains(&0) {
        return;
    }
    if shape.is_empty() {
        out.extend_from_slice(&src[offset * item..(offset + 1) * item]);
        return;
    }
    let nd = shape.len();
    let inner = shape[nd - 1];
    let inner_stride = strides[nd - 1];
    let mut idx = vec![0usize; nd - 1];
    loop {
        let base = offset + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
        if inner_stride == 1 {
            out.extend_from_slice(&src[base * item..(base + inner) * item]);
        } else {
            for j in 0..inner {
                let e = base + j * inner_stride;
                out.extend_from_slice(&src[e * item..(e + 1) * item]);
            }
        }
        // Advance the odometer over the outer dimensions.
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}
