//! The kernel contract: what the CUDA kernels (`kernels/*.cu`), their launches on a GPU and
//! their runs in the CPU emulator agree on, declared once in `decl.rs`.
//!
//! From that declaration this module makes the `#[repr(C)]` params structs (checked against
//! their C twins: `build.rs` generates `params.cuh` from the same declaration with a
//! `static_assert` of every size, and the emulator tests compare every field offset g++ sees),
//! the [`Kernel`] enum with each kernel's PTX module and entry, and one type per kernel
//! implementing [`KernelDef`]: its params type, launch shape and operands. The CUDA launch
//! (`crate::cuda::launch`) and the emulator tests read nothing else, so an operand's length is
//! derived in exactly one place.
//!
//! Always compiled, with or without the `cuda` feature: the emulator tests need it either way
//! (a build without `cuda` uses only the params structs outside the tests).

#![cfg_attr(not(any(test, feature = "cuda")), allow(dead_code, unused_imports))]

mod contract;
pub(crate) mod shapes;
#[cfg(test)]
mod tests;

pub(crate) use contract::{check_args, operand_len, per_group, ArgInfo, KernelDef, OperandSpec};
pub(crate) use shapes::LaunchShape;

use crate::dtype::Element;
// Operand element types `decl.rs` names (`*const f16`), in scope for the expansion.
#[allow(unused_imports)]
use half::{bf16, f16};

/// Expands `decl.rs`: see there for the grammar, and `kernels/gen.rs` for the C side.
macro_rules! kernels {
    (
        params {
            $(
                $(#[doc = $sdoc:literal])*
                $sname:ident {
                    $( $(#[doc = $fdoc:literal])* $fname:ident : $fty:ty ),* $(,)?
                }
            )*
        }
        $(
            module $module:ident {
                $(
                    $(#[doc = $kdoc:literal])*
                    kernel $kname:ident = $entry:ident ($p:ident : $params:ident) {
                        launch: $shape:ident ( $($shape_arg:expr),* $(,)? ),
                        $(
                            $oname:ident : * $omut:tt $oelem:ident [ $($olen:expr),+ $(,)? ]
                                $(if $ocond:expr)?
                        ),+ $(,)?
                    }
                )*
            }
        )*
    ) => {
        $(
            $(#[doc = $sdoc])*
            #[repr(C)]
            #[derive(Copy, Clone, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
            pub struct $sname {
                $( $(#[doc = $fdoc])* pub $fname: $fty, )*
            }

            // Every field is 8-byte integers: no padding, so C and Rust agree on the size.
            const _: () = assert!(
                std::mem::size_of::<$sname>() == 0 $(+ std::mem::size_of::<$fty>())*
            );

            // SAFETY: `#[repr(C)]` with only `i64` fields (no padding, no pointers), laid out
            // as its generated C twin in params.cuh, which kernels take by value.
            #[cfg(feature = "cuda")]
            unsafe impl cudarc::driver::DeviceRepr for $sname {}
        )*

        /// Every params struct: its name, size and field offsets, as Rust lays them out.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) const PARAMS_LAYOUT: &[(&str, usize, &[(&str, usize)])] = &[$(
            (
                stringify!($sname),
                std::mem::size_of::<$sname>(),
                &[$((stringify!($fname), std::mem::offset_of!($sname, $fname))),*],
            ),
        )*];

        /// One `extern "C" __global__` function of `kernels/*.cu`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum Kernel {
            $($( $(#[doc = $kdoc])* $kname, )*)*
        }

        impl Kernel {
            /// Every kernel, in declaration order.
            #[cfg_attr(not(test), allow(dead_code))]
            pub(crate) const ALL: &[Kernel] = &[$($(Kernel::$kname,)*)*];

            /// The symbol in the PTX (the `extern "C"` name).
            pub(crate) fn entry(self) -> &'static str {
                match self { $($(Kernel::$kname => stringify!($entry),)*)* }
            }

            /// The PTX module (`kernels/<module>.cu`) that defines it.
            #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
            pub(crate) fn module(self) -> Module {
                match self { $($(Kernel::$kname => Module(stringify!($module)),)*)* }
            }

            /// Bytes of its params struct, its first parameter.
            #[cfg_attr(not(test), allow(dead_code))]
            pub(crate) fn params_size(self) -> usize {
                match self { $($(Kernel::$kname => std::mem::size_of::<$params>(),)*)* }
            }

            /// Its operands, in parameter order after the params struct.
            #[cfg_attr(not(test), allow(dead_code))]
            pub(crate) fn operands(self) -> &'static [OperandSpec] {
                match self { $($(Kernel::$kname => <$kname as KernelDef>::OPERANDS,)*)* }
            }
        }

        impl Module {
            /// Every module, in declaration order.
            #[cfg_attr(not(test), allow(dead_code))]
            pub(crate) const ALL: &[Module] = &[$(Module(stringify!($module)),)*];

            /// The module's PTX (NUL-free text, ready for the driver's JIT).
            #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
            pub(crate) fn ptx(self) -> &'static str {
                match self.0 {
                    $(stringify!($module) => include_str!(concat!(
                        env!("OUT_DIR"), "/", stringify!($module), ".ptx"
                    )),)*
                    _ => "",
                }
            }
        }

        $($(
            $(#[doc = $kdoc])*
            pub(crate) struct $kname;

            impl KernelDef for $kname {
                type Params = $params;
                const KERNEL: Kernel = Kernel::$kname;
                const OPERANDS: &'static [OperandSpec] = &[$(OperandSpec {
                    name: stringify!($oname),
                    writes: kernels!(@writes $omut),
                    dtype: <$oelem as Element>::DTYPE,
                    optional: kernels!(@optional $($ocond)?),
                }),+];

                fn shape($p: &$params) -> crate::error::Result<LaunchShape> {
                    shapes::$shape($($shape_arg),*)
                }

                fn lengths($p: &$params) -> crate::error::Result<Vec<Option<u64>>> {
                    Ok(vec![$({
                        let present = true $(&& $ocond)?;
                        if present {
                            Some(operand_len(
                                stringify!($entry),
                                stringify!($oname),
                                &[$($olen),+],
                            )?)
                        } else {
                            None
                        }
                    }),+])
                }
            }
        )*)*
    };
    (@writes const) => { false };
    (@writes mut) => { true };
    (@optional) => { false };
    (@optional $cond:expr) => { true };
}

/// One PTX module: the compiled form of one `kernels/<name>.cu`, loaded once per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Module(&'static str);

impl Module {
    /// The stem of the `.cu` and `.ptx` files.
    pub(crate) fn name(self) -> &'static str {
        self.0
    }
}

include!("decl.rs");
