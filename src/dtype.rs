//! Element types, named as torch names them, with the storage classes torch.save writes for them.

use std::fmt;

/// Every dtype that `torch.save` writes for dense tensors.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// `torch.float64`.
    F64,
    /// `torch.float32`.
    F32,
    /// `torch.float16` (IEEE half).
    F16,
    /// `torch.bfloat16`.
    BF16,
    /// `torch.int64`.
    I64,
    /// `torch.int32`.
    I32,
    /// `torch.int16`.
    I16,
    /// `torch.int8`.
    I8,
    /// `torch.uint8`.
    U8,
    /// `torch.bool` (one byte, 0 or 1).
    Bool,
    /// `torch.complex64` (two float32).
    C64,
    /// `torch.complex128` (two float64).
    C128,
    // The dtypes below have no typed storage class; torch writes them with `_rebuild_tensor_v3`.
    /// `torch.complex32` (two float16).
    C32,
    /// `torch.uint16`.
    U16,
    /// `torch.uint32`.
    U32,
    /// `torch.uint64`.
    U64,
    /// `torch.float8_e5m2`.
    F8E5M2,
    /// `torch.float8_e4m3fn`.
    F8E4M3Fn,
    /// `torch.float8_e5m2fnuz`.
    F8E5M2Fnuz,
    /// `torch.float8_e4m3fnuz`.
    F8E4M3Fnuz,
    /// `torch.float8_e8m0fnu`.
    F8E8M0Fnu,
    /// `torch.float4_e2m1fn_x2` (two 4-bit floats per byte).
    F4E2M1FnX2,
}

/// All dtypes, in declaration order.
const ALL_DTYPES: [DType; 22] = [
    DType::F64,
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U8,
    DType::Bool,
    DType::C64,
    DType::C128,
    DType::C32,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::F8E5M2,
    DType::F8E4M3Fn,
    DType::F8E5M2Fnuz,
    DType::F8E4M3Fnuz,
    DType::F8E8M0Fnu,
    DType::F4E2M1FnX2,
];

impl DType {
    /// Every dtype `torch.save` writes for dense tensors, in declaration order.
    pub const ALL: [DType; 22] = ALL_DTYPES;

    /// Bytes per element.
    pub fn size(self) -> usize {
        use DType::*;
        match self {
            F64 | I64 | U64 | C64 => 8,
            F32 | I32 | U32 | C32 => 4,
            F16 | BF16 | I16 | U16 => 2,
            I8 | U8 | Bool | F8E5M2 | F8E4M3Fn | F8E5M2Fnuz | F8E4M3Fnuz | F8E8M0Fnu
            | F4E2M1FnX2 => 1,
            C128 => 16,
        }
    }

    /// The size of the unit that is byte-swapped on an endianness change: a complex number swaps
    /// each component separately.
    pub fn swap_unit(self) -> usize {
        match self {
            DType::C32 | DType::C64 | DType::C128 => self.size() / 2,
            _ => self.size(),
        }
    }

    /// torch's attribute name (`torch.float32` → `"float32"`).
    pub fn name(self) -> &'static str {
        use DType::*;
        match self {
            F64 => "float64",
            F32 => "float32",
            F16 => "float16",
            BF16 => "bfloat16",
            I64 => "int64",
            I32 => "int32",
            I16 => "int16",
            I8 => "int8",
            U8 => "uint8",
            Bool => "bool",
            C64 => "complex64",
            C128 => "complex128",
            C32 => "complex32",
            U16 => "uint16",
            U32 => "uint32",
            U64 => "uint64",
            F8E5M2 => "float8_e5m2",
            F8E4M3Fn => "float8_e4m3fn",
            F8E5M2Fnuz => "float8_e5m2fnuz",
            F8E4M3Fnuz => "float8_e4m3fnuz",
            F8E8M0Fnu => "float8_e8m0fnu",
            F4E2M1FnX2 => "float4_e2m1fn_x2",
        }
    }

    /// Parses torch's name of a dtype, including its aliases (`torch.float` = `float32`,
    /// `torch.long` = `int64`, `torch.cfloat` = `complex64`, ...).
    pub fn from_torch_name(name: &str) -> Option<DType> {
        use DType::*;
        let d = match name {
            "float64" | "double" => F64,
            "float32" | "float" => F32,
            "float16" | "half" => F16,
            "bfloat16" => BF16,
            "int64" | "long" => I64,
            "int32" | "int" => I32,
            "int16" | "short" => I16,
            "int8" => I8,
            "uint8" => U8,
            "bool" => Bool,
            "complex64" | "cfloat" => C64,
            "complex128" | "cdouble" => C128,
            "complex32" | "chalf" => C32,
            "uint16" => U16,
            "uint32" => U32,
            "uint64" => U64,
            "float8_e5m2" => F8E5M2,
            "float8_e4m3fn" => F8E4M3Fn,
            "float8_e5m2fnuz" => F8E5M2Fnuz,
            "float8_e4m3fnuz" => F8E4M3Fnuz,
            "float8_e8m0fnu" => F8E8M0Fnu,
            "float4_e2m1fn_x2" => F4E2M1FnX2,
            _ => return None,
        };
        Some(d)
    }

    /// The typed storage class torch.save writes for this dtype (`"FloatStorage"`), or `None` for
    /// dtypes that go through `UntypedStorage` and `_rebuild_tensor_v3`.
    pub fn storage_class(self) -> Option<&'static str> {
        use DType::*;
        Some(match self {
            F64 => "DoubleStorage",
            F32 => "FloatStorage",
            F16 => "HalfStorage",
            BF16 => "BFloat16Storage",
            I64 => "LongStorage",
            I32 => "IntStorage",
            I16 => "ShortStorage",
            I8 => "CharStorage",
            U8 => "ByteStorage",
            Bool => "BoolStorage",
            C64 => "ComplexFloatStorage",
            C128 => "ComplexDoubleStorage",
            _ => return None,
        })
    }

    /// The dtype of a typed storage class name (`"FloatStorage"` → `F32`).
    pub fn from_storage_class(class: &str) -> Option<DType> {
        ALL_DTYPES
            .iter()
            .copied()
            .find(|d| d.storage_class() == Some(class))
    }

    /// Whether values are IEEE-like floats (including complex and the 8-bit formats).
    pub fn is_float(self) -> bool {
        !matches!(
            self,
            DType::I64
                | DType::I32
                | DType::I16
                | DType::I8
                | DType::U8
                | DType::U16
                | DType::U32
                | DType::U64
                | DType::Bool
        )
    }

    /// Whether this is a complex dtype.
    pub fn is_complex(self) -> bool {
        matches!(self, DType::C32 | DType::C64 | DType::C128)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type whose values are stored as one element of a [`DType`].
pub trait Element: bytemuck::Pod + Copy + Send + Sync + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),* $(,)?) => { $(impl Element for $t { const DTYPE: DType = DType::$d; })* };
}
element!(f64 => F64, f32 => F32, half::f16 => F16, half::bf16 => BF16, i64 => I64, i32 => I32,
    i16 => I16, i8 => I8, u8 => U8, u16 => U16, u32 => U32, u64 => U64, Complex64 => C64,
    Complex128 => C128);

/// A complex64 element: interleaved real and imaginary f32, as torch stores it.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Complex64 {
    /// Real part.
    pub re: f32,
    /// Imaginary part.
    pub im: f32,
}

/// A complex128 element: interleaved real and imaginary f64.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Complex128 {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in ALL_DTYPES {
            assert_eq!(DType::from_torch_name(d.name()), Some(d));
            if let Some(c) = d.storage_class() {
                assert_eq!(DType::from_storage_class(c), Some(d));
            }
        }
        assert_eq!(DType::from_torch_name("float"), Some(DType::F32));
        assert_eq!(DType::from_torch_name("qint8"), None);
    }
}
