//! SHA-256 of a tensor's values (C order, the storage's little-endian element bytes), streamed
//! straight from the storage: a strided or stride-0 view is never materialized, so hashing
//! costs time in the view's size but no memory.

use sha2::{Digest, Sha256};
use tensorport::{Error, Result, Tensor};

/// Lower-case hex SHA-256 of `t`'s elements in C order.
pub fn view_sha256(t: &Tensor) -> Result<String> {
    let bytes = t.storage().host_bytes()?;
    let item = t.dtype().size();
    let mut h = Sha256::new();
    if t.numel() > 0 {
        let last = last_element(t)?;
        let end = last
            .checked_add(1)
            .and_then(|n| n.checked_mul(item))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| out_of_range(t, bytes.len()))?;
        if t.is_contiguous() {
            h.update(&bytes[t.storage_offset() * item..end]);
        } else {
            strided(t, bytes, item, &mut h);
        }
    }
    let mut s = String::with_capacity(64);
    for b in h.finalize() {
        s.push_str(&format!("{b:02x}"));
    }
    Ok(s)
}

/// The element offset of the view's last element (numel > 0).
fn last_element(t: &Tensor) -> Result<usize> {
    let mut last = t.storage_offset();
    for (&n, &s) in t.shape().iter().zip(t.strides()) {
        last = (n - 1)
            .checked_mul(s)
            .and_then(|d| last.checked_add(d))
            .ok_or_else(|| Error::Overflow {
                what: format!(
                    "the last element of a view of shape {} and stride {}",
                    dims(t.shape()),
                    dims(t.strides())
                ),
            })?;
    }
    Ok(last)
}

fn out_of_range(t: &Tensor, nbytes: usize) -> Error {
    Error::Shape {
        op: "describe",
        expected: format!("a view inside its storage of {nbytes} bytes"),
        got: format!(
            "shape {}, stride {}, offset {} of {}",
            dims(t.shape()),
            dims(t.strides()),
            t.storage_offset(),
            t.dtype().name()
        ),
    }
}

/// `[2, 3]`: dims as torch prints a size.
pub fn dims(d: &[usize]) -> String {
    let parts: Vec<String> = d.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// Walks the view in C order; every offset is in range (checked by the caller through the
/// last element, and strides are non-negative).
fn strided(t: &Tensor, bytes: &[u8], item: usize, h: &mut Sha256) {
    let shape = t.shape();
    let strides = t.strides();
    let nd = shape.len();
    let mut idx = vec![0usize; nd];
    let mut pos = t.storage_offset();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    loop {
        let at = pos * item;
        buf.extend_from_slice(&bytes[at..at + item]);
        if buf.len() + item > buf.capacity() {
            h.update(&buf);
            buf.clear();
        }
        let mut d = nd;
        loop {
            if d == 0 {
                h.update(&buf);
                return;
            }
            d -= 1;
            if idx[d] + 1 < shape[d] {
                idx[d] += 1;
                pos += strides[d];
                break;
            }
            pos -= idx[d] * strides[d];
            idx[d] = 0;
        }
    }
}
