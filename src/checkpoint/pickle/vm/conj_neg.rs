//! torch stores conjugated or negated views with their data unresolved and a `{'conj': True}` /
//! `{'neg': True}` metadata dict, and keeps the bits lazy when it loads them. The reader resolves
//! them into a copy of the *storage* with every element conjugated and/or negated, under the
//! same view: shape, strides and offset stay torch's, and a broadcast view of a few bytes stays a
//! few bytes (resolving the view itself would expand it).

use crate::dtype::DType;
use crate::storage::Storage;
use crate::tensor::Tensor;

/// `t` over a conjugated and/or negated copy of its storage.
pub(super) fn apply(t: &Tensor, conj: bool, neg: bool) -> Result<Tensor, String> {
    let dtype = t.dtype();
    let size = dtype.size();
    if conj && !dtype.is_complex() {
        return Err(format!("conj metadata on a {dtype} tensor"));
    }
    let mut bytes = t
        .storage()
        .host_bytes()
        .map_err(|e| e.to_string())?
        .to_vec();
    // Elements are little-endian: a sign bit is the top bit of a component's last byte. The
    // storage holds whole elements (checked when the view was made).
    let comp = dtype.swap_unit();
    for el in bytes.chunks_exact_mut(size) {
        if conj {
            el[size - 1] ^= 0x80;
        }
        if neg {
            negate(dtype, el, comp)?;
        }
    }
    let storage = Storage::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let out = Tensor::from_storage(
        storage,
        dtype,
        t.storage_offset(),
        t.shape().to_vec(),
        t.strides().to_vec(),
    )
    .map_err(|e| e.to_string())?;
    Ok(out
        .with_requires_grad(t.requires_grad())
        .with_parameter(t.is_parameter()))
}

fn negate(dtype: DType, el: &mut [u8], comp: usize) -> Result<(), String> {
    use DType::*;
    match dtype {
        Bool => return Err("neg metadata on a bool tensor".into()),
        F8E8M0Fnu => return Err("neg metadata on float8_e8m0fnu, which has no sign".into()),
        // Two packed 4-bit floats, each with its own sign bit.
        F4E2M1FnX2 => el[0] ^= 0x88,
        I8 | I16 | I32 | I64 | U8 | U16 | U32 | U64 => {
            // Two's-complement wrapping negation: invert, then add one.
            let mut carry = true;
            for b in el.iter_mut() {
                let (v, c) = (!*b).overflowing_add(u8::from(carry));
                *b = v;
                carry = c;
            }
        }
        _ => {
            for c in el.chunks_exact_mut(comp) {
                c[comp - 1] ^= 0x80;
            }
        }
    }
    Ok(())
}
