//! Decoding of scalar arguments: integers of any width, protocol-0 text literals, Python 2 strings.

use std::sync::Arc;

use crate::checkpoint::value::Value;

/// A two's-complement little-endian integer (LONG1/LONG4) as `Int` when it fits in i64, else as
/// `BigInt` with minimal bytes.
pub(super) fn int_from_le(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0x00 };
    // Drop sign-extension bytes whose removal keeps the sign bit.
    let mut n = bytes.len();
    while n > 1 && bytes[n - 1] == fill && (bytes[n - 2] & 0x80 != 0) == negative {
        n -= 1;
    }
    let b = &bytes[..n];
    if n <= 8 {
        let mut full = [fill; 8];
        full[..n].copy_from_slice(b);
        return Value::Int(i64::from_le_bytes(full));
    }
    Value::BigInt(Arc::from(b))
}

/// CPython's default limit on the digits of an int parsed from text (`sys.int_info`'s
/// `default_max_str_digits`): `int()` and the protocol-0 INT/LONG opcodes refuse longer literals.
/// It also keeps the quadratic multiply-add below bounded.
pub(super) const MAX_INT_DIGITS: usize = 4300;

/// Why a protocol-0 integer literal was refused.
#[derive(Debug)]
pub(super) enum TextIntError {
    Invalid,
    TooLong(usize),
}

/// Parses a decimal integer of any size (protocol 0 INT and LONG). `I00`/`I01` are False/True in
/// INT. LONG carries a trailing `L`.
pub(super) fn text_int(text: &[u8], is_int: bool) -> Result<Value, TextIntError> {
    if is_int {
        match text {
            b"00" => return Ok(Value::Bool(false)),
            b"01" => return Ok(Value::Bool(true)),
            _ => {}
        }
    }
    let text = text.strip_suffix(b"L").unwrap_or(text);
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(TextIntError::Invalid);
    }
    if digits.len() > MAX_INT_DIGITS {
        return Err(TextIntError::TooLong(digits.len()));
    }
    // Magnitude as little-endian 64-bit limbs, built 19 digits at a time (10^19 < 2^64), so a
    // literal at the digit limit costs a few thousand limb operations, not millions.
    let mut limbs: Vec<u64> = vec![0];
    for chunk in digits.chunks(19) {
        let (mut scale, mut add) = (1u64, 0u64);
        for &d in chunk {
            scale *= 10;
            add = add * 10 + u64::from(d - b'0');
        }
        let mut carry = u128::from(add);
        for limb in limbs.iter_mut() {
            let x = u128::from(*limb) * u128::from(scale) + carry;
            *limb = x as u64;
            carry = x >> 64;
        }
        if carry != 0 {
            limbs.push(carry as u64);
        }
    }
    let mut mag: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    mag.push(0); // room for the sign bit
    if negative {
        let mut carry = 1u16;
        for byte in mag.iter_mut() {
            let x = u16::from(!*byte) + carry;
            *byte = x as u8;
            carry = x >> 8;
        }
    }
    Ok(int_from_le(&mag))
}

/// A non-negative decimal (PUT/GET indices).
pub(super) fn decimal_u64(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A Python 2 byte string: `Str` when it is valid UTF-8, else `Bytes`.
pub(super) fn py2_str(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::Str(Arc::from(s)),
        Err(_) => Value::Bytes(Arc::from(bytes)),
    }
}

/// The bytes of a protocol-0 STRING literal: a quoted Python 2 `repr` with backslash escapes.
pub(super) fn unquote_py2(text: &[u8]) -> Option<Vec<u8>> {
    let q = *text.first()?;
    if !(q == b'\'' || q == b'"') || text.len() < 2 || text[text.len() - 1] != q {
        return None;
    }
    let body = &text[1..text.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *body.get(i)?;
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'\\' | b'\'' | b'"' => out.push(e),
            b'\n' => {}
            b'x' => {
                let h = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    Some(out)
}

/// Decodes `raw-unicode-escape` (protocol-0 UNICODE): latin-1 bytes with `\uXXXX` and
/// `\UXXXXXXXX` escapes.
pub(super) fn raw_unicode_escape(text: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        let width = match (c, text.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => 0,
        };
        if width == 0 {
            out.push(char::from(c));
            i += 1;
            continue;
        }
        let hex = std::str::from_utf8(text.get(i + 2..i + 2 + width)?).ok()?;
        out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
        i += 2 + width;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: &Value) -> i64 {
        v.as_int().unwrap()
    }

    #[test]
    fn integers() {
        assert_eq!(int(&int_from_le(&[0xff])), -1);
        assert_eq!(int(&int_from_le(&[0x00, 0x00, 0x00, 0x80, 0x00])), 1 << 31);
        assert_eq!(int(&int_from_le(&[0, 0, 0, 0, 0, 0xff])), -(1 << 40));
        let Value::BigInt(b) = int_from_le(&[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0]) else {
            panic!()
        };
        assert_eq!(&*b, &[0, 0, 0, 0, 0, 0, 0, 0, 0x40]);
        assert_eq!(int(&text_int(b"-1099511627776", true).unwrap()), -(1 << 40));
        assert_eq!(int(&text_int(b"12L", false).unwrap()), 12);
        assert!(matches!(text_int(b"01", true), Ok(Value::Bool(true))));
        let Value::BigInt(b) = text_int(b"1180591620717411303424L", false).unwrap() else {
            panic!()
        };
        assert_eq!(&*b, &[0, 0, 0, 0, 0, 0, 0, 0, 0x40]);
        let Value::BigInt(b) = text_int(b"-9223372036854775809", true).unwrap() else {
            panic!()
        };
        assert_eq!(&*b, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff]);
        assert_eq!(
            int(&text_int(b"-9223372036854775808", true).unwrap()),
            i64::MIN
        );
        assert!(text_int(b"1x", true).is_err());
        // CPython's digit limit: 4300 digits parse, 4301 do not (and are never multiplied out).
        assert!(text_int("7".repeat(4300).as_bytes(), true).is_ok());
        assert!(matches!(
            text_int("7".repeat(1_000_000).as_bytes(), true),
            Err(TextIntError::TooLong(1_000_000))
        ));
    }

    #[test]
    fn text_literals() {
        assert_eq!(unquote_py2(b"'a\\x00\\n\\''").unwrap(), b"a\x00\n'");
        assert!(unquote_py2(b"'abc").is_none());
        assert_eq!(raw_unicode_escape(b"caf\xe9 \\u20ac").unwrap(), "café €");
        assert!(matches!(py2_str(b"\xff"), Value::Bytes(_)));
    }
}
