//! The pickle opcode table: one place that names every opcode byte, its mnemonic and the kind of
//! argument that follows it. The reader decodes through [`decode`]; the writer uses the constants.

/// How the argument of an opcode is encoded in the stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// No argument.
    None,
    /// One unsigned byte.
    U8,
    /// Two bytes, unsigned little-endian.
    U16,
    /// Four bytes, signed little-endian.
    I32,
    /// Four bytes, unsigned little-endian.
    U32,
    /// Eight bytes, unsigned little-endian.
    U64,
    /// Eight bytes, big-endian IEEE double.
    F64Be,
    /// Text up to (not including) a newline.
    Line,
    /// Two newline-terminated lines (GLOBAL, INST).
    TwoLines,
    /// A one-byte length, then that many bytes.
    Len1,
    /// A four-byte little-endian length, then that many bytes.
    Len4,
    /// An eight-byte little-endian length, then that many bytes.
    Len8,
}

/// One opcode: its byte, pickletools name and argument kind.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OpInfo {
    pub code: u8,
    pub name: &'static str,
    pub arg: ArgKind,
}

macro_rules! opcodes {
    ($($name:ident = $code:expr, $arg:ident;)*) => {
        // Every opcode is named, also those the machine refuses (the table still says how to
        // skip their arguments for the error message): some are never read by name.
        $(#[allow(dead_code)] pub const $name: u8 = $code;)*
        /// Every opcode of pickle protocols 0 to 5.
        pub const TABLE: &[OpInfo] = &[
            $(OpInfo { code: $code, name: stringify!($name), arg: ArgKind::$arg },)*
        ];
    };
}

opcodes! {
    MARK = b'(', None;
    STOP = b'.', None;
    POP = b'0', None;
    POP_MARK = b'1', None;
    DUP = b'2', None;
    FLOAT = b'F', Line;
    INT = b'I', Line;
    BININT = b'J', I32;
    BININT1 = b'K', U8;
    LONG = b'L', Line;
    BININT2 = b'M', U16;
    NONE = b'N', None;
    PERSID = b'P', Line;
    BINPERSID = b'Q', None;
    REDUCE = b'R', None;
    STRING = b'S', Line;
    BINSTRING = b'T', Len4;
    SHORT_BINSTRING = b'U', Len1;
    UNICODE = b'V', Line;
    BINUNICODE = b'X', Len4;
    APPEND = b'a', None;
    BUILD = b'b', None;
    GLOBAL = b'c', TwoLines;
    DICT = b'd', None;
    EMPTY_DICT = b'}', None;
    APPENDS = b'e', None;
    GET = b'g', Line;
    BINGET = b'h', U8;
    INST = b'i', TwoLines;
    LONG_BINGET = b'j', U32;
    LIST = b'l', None;
    EMPTY_LIST = b']', None;
    OBJ = b'o', None;
    PUT = b'p', Line;
    BINPUT = b'q', U8;
    LONG_BINPUT = b'r', U32;
    SETITEM = b's', None;
    TUPLE = b't', None;
    EMPTY_TUPLE = b')', None;
    SETITEMS = b'u', None;
    BINFLOAT = b'G', F64Be;
    PROTO = 0x80, U8;
    NEWOBJ = 0x81, None;
    EXT1 = 0x82, U8;
    EXT2 = 0x83, U16;
    EXT4 = 0x84, I32;
    TUPLE1 = 0x85, None;
    TUPLE2 = 0x86, None;
    TUPLE3 = 0x87, None;
    NEWTRUE = 0x88, None;
    NEWFALSE = 0x89, None;
    LONG1 = 0x8a, Len1;
    LONG4 = 0x8b, Len4;
    BINBYTES = b'B', Len4;
    SHORT_BINBYTES = b'C', Len1;
    SHORT_BINUNICODE = 0x8c, Len1;
    BINUNICODE8 = 0x8d, Len8;
    BINBYTES8 = 0x8e, Len8;
    EMPTY_SET = 0x8f, None;
    ADDITEMS = 0x90, None;
    FROZENSET = 0x91, None;
    NEWOBJ_EX = 0x92, None;
    STACK_GLOBAL = 0x93, None;
    MEMOIZE = 0x94, None;
    FRAME = 0x95, U64;
    BYTEARRAY8 = 0x96, Len8;
    NEXT_BUFFER = 0x97, None;
    READONLY_BUFFER = 0x98, None;
}

/// The table entry of an opcode byte, if it is one.
pub fn info(code: u8) -> Option<&'static OpInfo> {
    TABLE.iter().find(|op| op.code == code)
}

/// The decoded argument of one opcode, borrowing from the stream.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Arg<'a> {
    None,
    /// U8, U16, U32, U64 arguments.
    Uint(u64),
    /// I32 arguments.
    Int(i64),
    Float(f64),
    /// Line, Len1, Len4 and Len8 arguments (a line without its newline).
    Bytes(&'a [u8]),
    /// The two lines of GLOBAL and INST.
    Lines(&'a [u8], &'a [u8]),
}

/// One decoded instruction.
#[derive(Copy, Clone, Debug)]
pub struct Instr<'a> {
    pub op: &'static OpInfo,
    pub arg: Arg<'a>,
    /// Offset just after the instruction.
    pub next: usize,
}

/// Why an instruction could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The byte at the offset is not an opcode.
    Unknown(u8),
    /// The stream ends inside the instruction: `needed` bytes from the opcode, `available` left.
    Truncated {
        name: &'static str,
        needed: u64,
        available: u64,
    },
    /// A length field is negative.
    NegativeLength { name: &'static str },
}

/// Decodes the instruction at `pos` in `data`, checking every read against the end.
pub fn decode(data: &[u8], pos: usize) -> Result<Instr<'_>, DecodeError> {
    let rest = data.get(pos..).unwrap_or(&[]);
    let code = *rest.first().ok_or(DecodeError::Truncated {
        name: "opcode",
        needed: 1,
        available: 0,
    })?;
    let op = info(code).ok_or(DecodeError::Unknown(code))?;
    let body = &rest[1..];
    let truncated = |needed: u64| DecodeError::Truncated {
        name: op.name,
        needed: needed.saturating_add(1),
        available: rest.len() as u64,
    };
    let fixed = |n: usize| body.get(..n).ok_or_else(|| truncated(n as u64));
    let le = |b: &[u8]| {
        b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    };
    let sized = |hdr: usize, len: u64| -> Result<(Arg<'_>, usize), DecodeError> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(hdr))
            .ok_or_else(|| truncated(len.saturating_add(hdr as u64)))?;
        let bytes = body.get(hdr..end).ok_or_else(|| truncated(end as u64))?;
        Ok((Arg::Bytes(bytes), end))
    };
    let line = |from: usize| -> Result<(&[u8], usize), DecodeError> {
        let tail = body.get(from..).unwrap_or(&[]);
        let nl = tail
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| truncated(body.len() as u64 + 1))?;
        Ok((&tail[..nl], from + nl + 1))
    };
    let (arg, used) = match op.arg {
        ArgKind::None => (Arg::None, 0),
        ArgKind::U8 => (Arg::Uint(le(fixed(1)?)), 1),
        ArgKind::U16 => (Arg::Uint(le(fixed(2)?)), 2),
        ArgKind::U32 => (Arg::Uint(le(fixed(4)?)), 4),
        ArgKind::U64 => (Arg::Uint(le(fixed(8)?)), 8),
        ArgKind::I32 => (Arg::Int(i64::from(le(fixed(4)?) as u32 as i32)), 4),
        ArgKind::F64Be => {
            let mut b = [0u8; 8];
            b.copy_from_slice(fixed(8)?);
            (Arg::Float(f64::from_be_bytes(b)), 8)
        }
        ArgKind::Line => {
            let (l, n) = line(0)?;
            (Arg::Bytes(l), n)
        }
        ArgKind::TwoLines => {
            let (a, n) = line(0)?;
            let (b, m) = line(n)?;
            (Arg::Lines(a, b), m)
        }
        ArgKind::Len1 => sized(1, le(fixed(1)?))?,
        ArgKind::Len4 => {
            let raw = le(fixed(4)?);
            // BINSTRING and LONG4 lengths are signed; BINUNICODE/BINBYTES lengths are unsigned
            // but never reach 2^31 within a checkpoint record either way.
            if matches!(code, BINSTRING | LONG4) && raw >= 1 << 31 {
                return Err(DecodeError::NegativeLength { name: op.name });
            }
            sized(4, raw)?
        }
        ArgKind::Len8 => sized(8, le(fixed(8)?))?,
    };
    Ok(Instr {
        op,
        arg,
        next: pos + 1 + used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for (i, a) in TABLE.iter().enumerate() {
            assert!(
                TABLE[i + 1..].iter().all(|b| b.code != a.code),
                "{}",
                a.name
            );
        }
        assert_eq!(info(b'X').map(|o| o.name), Some("BINUNICODE"));
        assert_eq!(info(0xff), None);
    }

    #[test]
    fn decodes_and_bounds_checks() {
        let i = decode(b"J\xff\xff\xff\xff.", 0).unwrap();
        assert_eq!((i.arg, i.next), (Arg::Int(-1), 5));
        let i = decode(b"G\x3f\xf0\0\0\0\0\0\0", 0).unwrap();
        assert_eq!(i.arg, Arg::Float(1.0));
        let i = decode(b"ctorch\nSize\n", 0).unwrap();
        assert_eq!(i.arg, Arg::Lines(b"torch", b"Size"));
        assert!(matches!(
            decode(b"X\x05\0\0\0ab", 0),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode(b"\x8e\xff\xff\xff\xff\xff\xff\xff\xff", 0),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode(b"ctorch", 0),
            Err(DecodeError::Truncated { .. })
        ));
        assert_eq!(decode(b"\xff", 0).unwrap_err(), DecodeError::Unknown(0xff));
        assert!(matches!(decode(b"", 0), Err(DecodeError::Truncated { .. })));
    }
}
