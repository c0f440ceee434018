//! Scalars and strings: the integer opcodes (BININT1/BININT2/BININT/LONG1), BINUNICODE, and
//! int tuples.

use super::{invalid, op, Ints, Writer};
use crate::error::Result;

impl Writer<'_, '_> {
    pub(super) fn str_len(&mut self, len: usize) -> Result<()> {
        let len = u32::try_from(len).map_err(|_| {
            invalid(format!(
                "a {len}-byte string does not fit pickle protocol 2"
            ))
        })?;
        self.out.push(op::BINUNICODE);
        self.out.extend_from_slice(&len.to_le_bytes());
        Ok(())
    }

    pub(super) fn unicode(&mut self, s: &str) -> Result<()> {
        self.str_len(s.len())?;
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// BINUNICODE of `bytes` decoded as latin-1 (each byte is the code point).
    pub(super) fn latin1(&mut self, bytes: &[u8]) -> Result<()> {
        self.str_len(bytes.len() + bytes.iter().filter(|&&b| b >= 0x80).count())?;
        let mut buf = [0u8; 2];
        for &b in bytes {
            let enc = char::from(b).encode_utf8(&mut buf);
            self.out.extend_from_slice(enc.as_bytes());
        }
        Ok(())
    }

    pub(super) fn int(&mut self, i: i128) {
        if let Ok(b) = u8::try_from(i) {
            self.out.extend_from_slice(&[op::BININT1, b]);
        } else if let Ok(h) = u16::try_from(i) {
            self.out.push(op::BININT2);
            self.out.extend_from_slice(&h.to_le_bytes());
        } else if let Ok(w) = i32::try_from(i) {
            self.out.push(op::BININT);
            self.out.extend_from_slice(&w.to_le_bytes());
        } else {
            let bytes = i.to_le_bytes();
            let n = minimal_len(&bytes);
            self.out.extend_from_slice(&[op::LONG1, n as u8]);
            self.out.extend_from_slice(&bytes[..n]);
        }
    }

    /// An arbitrary-width two's-complement little-endian integer.
    pub(super) fn big_int(&mut self, bytes: &[u8]) -> Result<()> {
        let bytes = &bytes[..minimal_len(bytes)];
        if bytes.len() <= 16 {
            let fill = if bytes.last().is_some_and(|&b| b & 0x80 != 0) {
                0xff
            } else {
                0
            };
            let mut wide = [fill; 16];
            wide[..bytes.len()].copy_from_slice(bytes);
            self.int(i128::from_le_bytes(wide));
            return Ok(());
        }
        let n = u8::try_from(bytes.len()).map_err(|_| {
            invalid(format!(
                "a {}-byte integer needs LONG4, which torch's weights-only loader refuses",
                bytes.len()
            ))
        })?;
        self.out.extend_from_slice(&[op::LONG1, n]);
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// A tuple of ints (a tensor's size or stride, a `torch.Size`).
    pub(super) fn ints(&mut self, ints: Ints<'_>) -> Result<()> {
        let n = match ints {
            Ints::U(v) => v.len(),
            Ints::I(v) => v.len(),
        };
        if n == 0 {
            self.out.push(op::EMPTY_TUPLE);
            return Ok(());
        }
        if n > 3 {
            self.out.push(op::MARK);
        }
        match ints {
            Ints::U(v) => v.iter().for_each(|&x| self.int(x as i128)),
            Ints::I(v) => v.iter().for_each(|&x| self.int(x as i128)),
        }
        self.out.push(tuple_op(n));
        self.put(None)
    }
}

/// The opcode closing a tuple of `n >= 1` items (TUPLE after a MARK for more than 3).
pub(super) fn tuple_op(n: usize) -> u8 {
    match n {
        1 => op::TUPLE1,
        2 => op::TUPLE2,
        3 => op::TUPLE3,
        _ => op::TUPLE,
    }
}

/// The length of `bytes` (two's complement, little-endian) without redundant sign bytes, as
/// CPython's `encode_long` writes it.
pub(super) fn minimal_len(bytes: &[u8]) -> usize {
    let mut n = bytes.len();
    while n > 1 {
        let (last, prev) = (bytes[n - 1], bytes[n - 2]);
        if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
            n -= 1;
        } else {
            break;
        }
    }
    if n == 1 && bytes[0] == 0 {
        0
    } else {
        n
    }
}
