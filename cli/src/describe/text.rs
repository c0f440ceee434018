//! Text encodings of the document that must come out the same as Python's: integers (decimal up
//! to CPython's 4300-digit `str(int)` limit, hex beyond it), the canonical JSON text that sets
//! are sorted by (`json.dumps(.., sort_keys=True, separators=(",", ":"))`, ASCII-escaped), and
//! hex of byte strings.

use serde_json::Value as Json;
use tensorport::{Error, Result};

/// CPython's `sys.get_int_max_str_digits()` default: `str(int)` refuses more digits.
pub const MAX_DECIMAL_DIGITS: usize = 4300;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> Result<String> {
    use std::fmt::Write;
    let mut s = String::new();
    reserve(&mut s, bytes.len(), 2, "hex text of a byte string")?;
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    Ok(s)
}

fn reserve(s: &mut String, n: usize, per: usize, what: &str) -> Result<()> {
    let want = n
        .checked_mul(per)
        .ok_or_else(|| Error::Overflow { what: what.into() })?;
    s.try_reserve(want).map_err(|_| Error::OutOfMemory {
        what: what.into(),
        bytes: want,
    })
}

/// A two's-complement little-endian integer as Python prints it: `("int", decimal)` when it has
/// at most 4300 digits, else `("int_hex", hex)` (`format(v, "x")`: sign, then lower-case digits).
/// Linear in the size for hex, and the decimal case is bounded by the digit limit.
pub fn int_text(le: &[u8]) -> Result<(&'static str, String)> {
    let neg = le.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = Vec::new();
    mag.try_reserve(le.len()).map_err(|_| Error::OutOfMemory {
        what: "the magnitude of an int".into(),
        bytes: le.len(),
    })?;
    mag.extend_from_slice(le);
    if neg {
        let mut carry = 1u16;
        for b in mag.iter_mut() {
            let v = (!*b) as u16 + carry;
            *b = v as u8;
            carry = v >> 8;
        }
    }
    while mag.last() == Some(&0) {
        mag.pop();
    }
    let bits = mag
        .last()
        .map_or(0, |b| mag.len() * 8 - b.leading_zeros() as usize);
    // 2^14300 > 10^4304: past that many bits the decimal form is over the limit for sure, so
    // the quadratic division below only ever runs on numbers of at most ~4305 digits.
    if bits <= 14300 {
        let digits = decimal_digits(mag.clone());
        if digits.len() <= MAX_DECIMAL_DIGITS {
            let mut s = String::with_capacity(digits.len() + 1);
            if neg {
                s.push('-');
            }
            s.extend(digits.iter().rev().map(|&d| char::from(b'0' + d)));
            return Ok(("int", s));
        }
    }
    let mut s = String::new();
    reserve(&mut s, mag.len(), 2, "hex text of an int")?;
    if neg {
        s.push('-');
    }
    let mut iter = mag.iter().rev();
    if let Some(top) = iter.next() {
        s.push_str(&format!("{top:x}"));
    } else {
        s.push('0');
    }
    for b in iter {
        s.push_str(&format!("{b:02x}"));
    }
    Ok(("int_hex", s))
}

/// Decimal digits of a little-endian magnitude, least significant first (at least one).
fn decimal_digits(mut mag: Vec<u8>) -> Vec<u8> {
    let mut digits = Vec::new();
    while mag.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in mag.iter_mut().rev() {
            let cur = (rem << 8) | *b as u32;
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(rem as u8);
        while mag.last() == Some(&0) {
            mag.pop();
        }
    }
    if digits.is_empty() {
        digits.push(0);
    }
    digits
}

/// `json.dumps(doc, sort_keys=True, separators=(",", ":"))` (ensure_ascii, Python's default).
pub fn canonical(doc: &Json) -> String {
    let mut out = String::new();
    write_canonical(doc, &mut out);
    out
}

fn write_canonical(doc: &Json, out: &mut String) {
    match doc {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => write_str(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(it, out);
            }
            out.push(']');
        }
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            // Python sorts str keys by code point, which is UTF-8 byte order.
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_canonical(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(le: &[u8]) -> String {
        int_text(le).expect("int").1
    }

    #[test]
    fn small_ints_print_in_decimal() {
        assert_eq!(
            dec(&[0, 0, 0, 0, 0, 0, 0, 0, 0x40]),
            "1180591620717411303424"
        );
        assert_eq!(dec(&[0xff]), "-1");
        assert_eq!(dec(&[0x00, 0x80]), "-32768");
        assert_eq!(dec(&[]), "0");
    }

    #[test]
    fn ints_past_python_digit_limit_print_in_hex() {
        // 2^14284 has 4300 digits; 2^14287 has 4301: decimal, then hex as Python's format(v, "x").
        let mut le = vec![0u8; 14284 / 8 + 1];
        le[14284 / 8] = 1 << (14284 % 8);
        le.push(0);
        let (tag, text) = int_text(&le).expect("int");
        assert_eq!((tag, text.len()), ("int", 4300));
        let mut le = vec![0u8; 14287 / 8 + 1];
        le[14287 / 8] = 1 << (14287 % 8);
        le.push(0);
        let (tag, text) = int_text(&le).expect("int");
        assert_eq!(tag, "int_hex");
        assert_eq!(text, format!("8{}", "0".repeat(14287 / 4)));
        // -(2^(8*131072 - 1)): the 128 KiB LONG4 that took ~100 s in decimal.
        let mut le = vec![0u8; 131072];
        le[131071] = 0x80;
        let (tag, text) = int_text(&le).expect("int");
        assert_eq!(tag, "int_hex");
        assert_eq!(text, format!("-8{}", "0".repeat(131072 * 2 - 1)));
    }

    #[test]
    fn canonical_text_is_pythons() {
        let doc = serde_json::json!({"b": ["\u{7f}é😀\"\\\n\u{1}"], "a": 1});
        assert_eq!(
            canonical(&doc),
            r#"{"a":1,"b":["\u007f\u00e9\ud83d\ude00\"\\\n\u0001"]}"#
        );
    }
}
