//! How the CPU kernels split work across the thread pool: the sizes below which a kernel stays
//! on the calling thread, and the piecewise loop the elementwise kernels share.

use rayon::prelude::*;

/// Below this many elements of work a kernel runs on the calling thread: waking rayon's pool
/// costs microseconds, more than the recipe's batch-1 layers take in total.
pub(crate) const PAR_MIN_WORK: usize = 1 << 16;

/// A slice of work per rayon task: large enough to amortise task overhead (~1 µs), small enough
/// that two or more cores get balanced shares.
pub(crate) const PAR_CHUNK: usize = 1 << 15;

/// Runs `body` for every `unit`-sized piece of `dst` (with the piece's index), in parallel when
/// the total `work` is large, in tasks of whole pieces.
pub(crate) fn for_each_piece<T: Send>(
    dst: &mut [T],
    unit: usize,
    work: usize,
    body: impl Fn(usize, &mut [T]) + Sync,
) {
    if unit == 0 || dst.is_empty() {
        return;
    }
    if work < PAR_MIN_WORK || super::pool_threads() < 2 {
        for (i, piece) in dst.chunks_exact_mut(unit).enumerate() {
            body(i, piece);
        }
        return;
    }
    // Work per piece scales with its length; group pieces so a task does about PAR_CHUNK of work.
    let pieces = dst.len() / unit;
    let per_piece = (work / pieces.max(1)).max(1);
    let per_task = (PAR_CHUNK / per_piece).clamp(1, pieces.max(1));
    dst.par_chunks_mut(unit * per_task)
        .enumerate()
        .for_each(|(t, chunk)| {
            for (i, piece) in chunk.chunks_exact_mut(unit).enumerate() {
                body(t * per_task + i, piece);
            }
        });
}

/// Runs `body` over matching `PAR_CHUNK` pieces of `src` and `dst` (equal lengths), in
/// parallel when they are large, on the calling thread otherwise: the loop of every unary
/// elementwise kernel.
pub(crate) fn map_pieces<S: Sync, D: Send>(
    src: &[S],
    dst: &mut [D],
    body: impl Fn(&[S], &mut [D]) + Sync,
) {
    if src.len() < PAR_MIN_WORK || super::pool_threads() < 2 {
        body(src, dst);
        return;
    }
    dst.par_chunks_mut(PAR_CHUNK)
        .zip(src.par_chunks(PAR_CHUNK))
        .for_each(|(d, s)| body(s, d));
}
