//! Inflating a deflated record into a buffer that grows with the bytes the stream really
//! produces: the central directory's size is a claim, so it only caps the buffer (plus one byte
//! to notice a stream that runs longer) and never decides an allocation up front.

use flate2::{Decompress, FlushDecompress, Status};

use super::read::Entry;
use crate::error::CheckpointError;

/// The largest expansion a deflate stream can achieve (258-byte matches in 2-bit codes).
pub(super) const MAX_DEFLATE_RATIO: u64 = 1032;

/// The first reservation: small records take one allocation, large ones double from here.
const FIRST_CHUNK: usize = 64 << 10;

/// Inflates `raw`, the compressed bytes of `entry`, to exactly `entry.size` bytes.
///
/// `max_inflated` is the caller's budget (`ResourceLimit` beyond it, checked against the claim
/// before any work). The buffer doubles as output arrives and never exceeds the claim + 1, so a
/// small record that claims gigabytes costs only what its stream yields before it ends.
/// `at` is the data's offset in the file, for messages.
pub(super) fn inflate(
    raw: &[u8],
    entry: &Entry,
    at: u64,
    max_inflated: u64,
    limit: &'static str,
) -> Result<Vec<u8>, CheckpointError> {
    let (name, size) = (&entry.name, entry.size);
    if size > max_inflated {
        return Err(CheckpointError::ResourceLimit {
            record: name.clone(),
            limit,
            max: max_inflated,
            value: size,
        });
    }
    // Deflate expands at most 1032:1: a larger claim is a lie, refused before any work.
    let most = entry
        .compressed_size
        .saturating_mul(MAX_DEFLATE_RATIO)
        .saturating_add(64);
    if size > most {
        return Err(malformed(format!(
            "record {name} (data at offset {at}) claims {size} bytes from {} compressed bytes, \
             beyond deflate's {MAX_DEFLATE_RATIO}:1 maximum",
            entry.compressed_size
        )));
    }
    let want = usize::try_from(size)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| CheckpointError::SizeOverflow {
            what: format!("record {name}"),
            detail: format!("inflated size {size} does not fit this machine's address space"),
        })?;
    let mut out: Vec<u8> = Vec::new();
    let mut decoder = Decompress::new(false);
    let mut input = raw;
    loop {
        if out.len() == out.capacity() {
            if out.len() == want {
                break;
            }
            let target = out.capacity().saturating_mul(2).max(FIRST_CHUNK).min(want);
            out.try_reserve_exact(target - out.len()).map_err(|_| {
                CheckpointError::OutOfMemory {
                    what: format!("inflating record {name}"),
                    bytes: target as u64,
                }
            })?;
        }
        let (in_before, out_before) = (decoder.total_in(), out.len());
        let status = decoder
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(|e| {
                malformed(format!(
                    "record {name} (data at offset {at}): corrupt deflate stream at compressed \
                     byte {}, after {} inflated bytes: {e}",
                    decoder.total_in(),
                    out.len()
                ))
            })?;
        let consumed = usize::try_from(decoder.total_in() - in_before).unwrap_or(usize::MAX);
        input = input.get(consumed..).unwrap_or(&[]);
        if status == Status::StreamEnd {
            break;
        }
        if consumed == 0 && out.len() == out_before {
            // No progress with room to write: the compressed bytes ran out mid-stream.
            return Err(malformed(format!(
                "record {name} (data at offset {at}): its {} compressed bytes end inside the \
                 deflate stream, after {} inflated bytes (the central directory says {size})",
                raw.len(),
                out.len()
            )));
        }
    }
    if out.len() as u64 > size {
        return Err(malformed(format!(
            "record {name} (data at offset {at}) inflates to more than the {size} bytes the \
             central directory says"
        )));
    }
    if out.len() as u64 != size {
        return Err(malformed(format!(
            "record {name} (data at offset {at}) inflates to {} bytes, the central directory \
             says {size}",
            out.len()
        )));
    }
    Ok(out)
}

fn malformed(detail: String) -> CheckpointError {
    CheckpointError::MalformedZip { detail }
}
