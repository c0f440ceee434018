//! How many threads the CPU kernels use, and on which pool: [`set_num_threads`] (PyTorch's
//! `torch.set_num_threads`) lets an embedding program choose; by default the kernels use
//! rayon's global pool, one worker per core.
//!
//! With `n > 1` threads the crate owns a rayon pool of `n` workers and every op runs its CPU
//! work inside it ([`install`]); with `n == 1` every kernel runs on the calling thread and no
//! pool is woken at all (no hand-off per op); `0` returns to rayon's global pool.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};

/// The pool `set_num_threads(n > 1)` made, if any.
static POOL: RwLock<Option<Arc<rayon::ThreadPool>>> = RwLock::new(None);
/// `set_num_threads(1)`: every kernel on the calling thread.
static SINGLE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread runs work that is already one of several parallel pieces (a
    /// chunk of a batch in `nn::Net`): kernels then stay on this thread.
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

fn pool() -> Option<Arc<rayon::ThreadPool>> {
    // A poisoned lock still holds a consistent value (it is only ever replaced whole).
    POOL.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Uses `n` threads for the CPU kernels from now on: `1` runs everything on the calling
/// thread, `n > 1` runs the kernels on a pool of `n` workers owned by tensorport, and `0`
/// returns to the default (rayon's global pool, one worker per core). Ops already running keep
/// the threads they started with.
pub fn set_num_threads(n: usize) -> Result<()> {
    let new_pool = if n > 1 {
        let p = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("tensorport-{i}"))
            .build()
            .map_err(|e| Error::InvalidArgument {
                op: "set_num_threads",
                name: "n",
                reason: format!("could not start {n} threads: {e}"),
            })?;
        Some(Arc::new(p))
    } else {
        None
    };
    SINGLE.store(n == 1, Ordering::Relaxed);
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = new_pool;
    Ok(())
}

/// The number of threads the CPU kernels use (PyTorch's `torch.get_num_threads`).
pub fn num_threads() -> usize {
    if SINGLE.load(Ordering::Relaxed) {
        return 1;
    }
    match pool() {
        Some(p) => p.current_num_threads(),
        None => rayon::current_num_threads().max(1),
    }
}

/// Runs an op's CPU work `f` on the threads [`set_num_threads`] chose: inside the crate's pool
/// when there is one (and this thread is not already one of its workers), else right here.
pub(crate) fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if SINGLE.load(Ordering::Relaxed) || SERIAL.with(Cell::get) {
        return f();
    }
    match pool() {
        Some(p) if p.current_thread_index().is_none() => p.install(f),
        _ => f(),
    }
}

/// Runs `f` with every CPU kernel it calls on the calling thread.
pub(crate) fn serial<R>(f: impl FnOnce() -> R) -> R {
    let prev = SERIAL.with(|s| s.replace(true));
    let r = f();
    SERIAL.with(|s| s.set(prev));
    r
}

/// Threads the kernels may use now: 1 inside [`serial`] or after `set_num_threads(1)`, else
/// the size of the pool they run in.
pub(crate) fn pool_threads() -> usize {
    if SINGLE.load(Ordering::Relaxed) || SERIAL.with(Cell::get) {
        1
    } else {
        rayon::current_num_threads().max(1)
    }
}
