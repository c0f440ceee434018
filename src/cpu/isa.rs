//! Which vector instructions the CPU kernels use, chosen at run time for the machine at hand.
//!
//! Sessions, CI and users land on different x86 machines (AVX-512 Xeons and Zen 4, AVX2-only
//! parts), so nothing is chosen at compile time: each fast kernel is compiled once per path
//! with `#[target_feature]` and [`active`] picks one per call. The best path the CPU supports
//! is the default; `TENSORPORT_CPU_CAPABILITY` (read once, like PyTorch's
//! `ATEN_CPU_CAPABILITY`: `avx512`, `avx2` or `default`) or [`set_cpu_capability`] picks a
//! lower one, so every path can be tested and compared on one machine. Asking for a path the
//! CPU lacks is an error, never a silent downgrade.
//!
//! AMX is not a path: its tiles multiply bf16/int8, and rounding f32 weights and activations
//! to bf16 would break the conformance rule (results within float32 rounding of torch's).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// A set of vector instructions the CPU kernels can be compiled for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuCapability {
    /// No explicit vector path: portable Rust that the compiler vectorises for the baseline
    /// target (SSE2 on x86-64).
    Default,
    /// AVX2 with FMA: 8 f32 lanes, 16 vector registers.
    Avx2,
    /// AVX-512 F: 16 f32 lanes, 32 vector registers.
    Avx512,
}

impl CpuCapability {
    /// Every path, lowest first.
    pub const ALL: [CpuCapability; 3] = [Self::Default, Self::Avx2, Self::Avx512];

    /// The name `TENSORPORT_CPU_CAPABILITY` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        self <= best()
    }

    fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v).checked_sub(1)?).copied()
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Default => 1,
            Self::Avx2 => 2,
            Self::Avx512 => 3,
        }
    }
}

impl std::fmt::Display for CpuCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The best path this CPU supports.
fn best() -> CpuCapability {
    static BEST: OnceLock<CpuCapability> = OnceLock::new();
    *BEST.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
                return CpuCapability::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return CpuCapability::Avx2;
            }
        }
        CpuCapability::Default
    })
}

/// 0: not chosen yet (the environment variable is read on first use).
static CHOSEN: AtomicU8 = AtomicU8::new(0);

fn parse(name: &str) -> Result<CpuCapability> {
    let want = CpuCapability::ALL
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| Error::InvalidArgument {
            op: "cpu capability",
            name: "TENSORPORT_CPU_CAPABILITY",
            reason: format!("{name:?} is not one of default, avx2, avx512"),
        })?;
    check(want)
}

fn check(want: CpuCapability) -> Result<CpuCapability> {
    if want.supported() {
        Ok(want)
    } else {
        Err(Error::InvalidArgument {
            op: "cpu capability",
            name: "capability",
            reason: format!(
                "{want} was asked for, but this CPU supports at most {}",
                best()
            ),
        })
    }
}

/// The path the kernels use now: the one [`set_cpu_capability`] chose, else the
/// environment's, else the best the CPU has. A `TENSORPORT_CPU_CAPABILITY` this CPU cannot
/// honour (or an unknown name) is an error from [`cpu_capability_from_env`]; a kernel cannot
/// return it, so the first kernel says so on stderr, once, and runs the best path.
pub(crate) fn active() -> CpuCapability {
    match CpuCapability::from_u8(CHOSEN.load(Ordering::Relaxed)) {
        Some(c) => c,
        None => {
            let c = match cpu_capability_from_env() {
                Ok(c) => c.unwrap_or(best()),
                Err(e) => {
                    eprintln!(
                        "tensorport: ignoring TENSORPORT_CPU_CAPABILITY: {e}; using {}",
                        best()
                    );
                    best()
                }
            };
            // A concurrent set_cpu_capability wins over the environment.
            let _ = CHOSEN.compare_exchange(0, c.to_u8(), Ordering::Relaxed, Ordering::Relaxed);
            CpuCapability::from_u8(CHOSEN.load(Ordering::Relaxed)).unwrap_or(c)
        }
    }
}

/// The path `TENSORPORT_CPU_CAPABILITY` asks for (`None` when unset), or why it cannot be
/// used on this CPU.
pub fn cpu_capability_from_env() -> Result<Option<CpuCapability>> {
    match std::env::var("TENSORPORT_CPU_CAPABILITY") {
        Ok(v) if !v.trim().is_empty() => parse(&v).map(Some),
        _ => Ok(None),
    }
}

/// Uses `cap` for every CPU kernel from now on (`None`: the best this CPU supports). Asking
/// for a path this CPU lacks is an error.
pub fn set_cpu_capability(cap: Option<CpuCapability>) -> Result<()> {
    let c = match cap {
        Some(c) => check(c)?,
        None => best(),
    };
    CHOSEN.store(c.to_u8(), Ordering::Relaxed);
    Ok(())
}

/// The path the CPU kernels use now.
pub fn cpu_capability() -> CpuCapability {
    active()
}

/// The best path this CPU supports.
pub fn best_cpu_capability() -> CpuCapability {
    best()
}

/// Held by every unit test that sets the capability: the setting is process-wide, and a test
/// comparing two runs bit for bit (fused against unfused) must not have another test switch
/// the path between them (rounding differs between FMA and separate multiply-add).
#[cfg(test)]
pub(crate) fn capability_test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for c in CpuCapability::ALL {
            assert_eq!(CpuCapability::from_u8(c.to_u8()), Some(c));
            if c.supported() {
                assert_eq!(parse(&c.name().to_uppercase()).ok(), Some(c));
            } else {
                assert!(parse(c.name()).is_err());
            }
        }
        assert!(parse("sse9").is_err());
        assert!(CpuCapability::Default.supported());
    }
}
