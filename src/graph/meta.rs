//! The export schema's small types: scalar types by code, sizes, devices, tensor metadata.

use serde_json::Value as Json;

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::ir::{Dim, TensorSpec};
use crate::graph::json::{bad, At};

/// `torch._export.serde.schema.ScalarType` (schema 8.x) as our dtype.
pub(crate) fn dtype(code: i64) -> Option<DType> {
    Some(match code {
        1 => DType::U8,
        2 => DType::I8,
        3 => DType::I16,
        4 => DType::I32,
        5 => DType::I64,
        6 => DType::F16,
        7 => DType::F32,
        8 => DType::F64,
        9 => DType::C32,
        10 => DType::C64,
        11 => DType::C128,
        12 => DType::Bool,
        13 => DType::BF16,
        28 => DType::U16,
        29 => DType::F8E4M3Fn,
        30 => DType::F8E5M2,
        31 => DType::F8E4M3Fnuz,
        32 => DType::F8E5M2Fnuz,
        33 => DType::F8E8M0Fnu,
        34 => DType::U32,
        35 => DType::U64,
        _ => return None,
    })
}

/// The symbol of a dynamic size: `Symbol('s77', positive=True, integer=True)` or `s77`.
fn symbol(expr: &str) -> Option<&str> {
    let e = expr.trim();
    let name = match e.strip_prefix("Symbol(") {
        Some(rest) => rest
            .split(',')
            .next()?
            .trim()
            .trim_matches(|c| c == '\'' || c == '"' || c == ')'),
        None => e,
    };
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(name)
}

/// One size (`{"as_int": 3}` or `{"as_expr": {"expr_str": ...}}`).
pub(crate) fn dim(at: At<'_, '_>) -> Result<Dim> {
    match at.union()? {
        ("as_int", v) => {
            let n = At::new(v, at.path).i64()?;
            usize::try_from(n)
                .map(Dim::Fixed)
                .map_err(|_| bad(at.path, format!("negative size {n}")))
        }
        ("as_expr", v) => {
            let e = At::new(v, at.path);
            let (s, sp) = e.field("expr_str")?;
            let text = At::new(s, &sp).str()?;
            // A derived size (`2*s77`) has no symbol of its own; it is computed by the ops.
            Ok(Dim::Symbol(symbol(text).unwrap_or(text).to_string()))
        }
        (tag, _) => Err(bad(at.path, format!("expected a size, found {tag}"))),
    }
}

/// A list of fixed sizes (a weight's shape or strides).
pub(crate) fn fixed(at: At<'_, '_>) -> Result<Vec<usize>> {
    at.arr()?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = format!("{}[{i}]", at.path);
            match dim(At::new(d, &p))? {
                Dim::Fixed(n) => Ok(n),
                Dim::Symbol(s) => Err(bad(
                    &p,
                    format!("a weight cannot have the dynamic size {s}"),
                )),
            }
        })
        .collect()
}

/// `tensor_meta`'s dtype and sizes as a spec named `name`.
pub(crate) fn spec(name: &str, meta: &Json, path: &str) -> Result<TensorSpec> {
    let at = At::new(meta, path);
    let (code, cp) = at.field("dtype")?;
    let code = At::new(code, &cp).i64()?;
    let dtype = dtype(code).ok_or_else(|| bad(&cp, format!("unknown scalar type {code}")))?;
    let (sizes, sp) = at.field("sizes")?;
    let sizes = At::new(sizes, &sp);
    let shape = sizes
        .arr()?
        .iter()
        .enumerate()
        .map(|(i, d)| dim(At::new(d, &format!("{sp}[{i}]"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(TensorSpec {
        name: name.to_string(),
        dtype,
        shape,
    })
}

/// The location tag (`cpu`, `cuda:1`) of a schema device (`{"type": "cuda", "index": 1}`).
pub(crate) fn location(at: At<'_, '_>) -> Result<String> {
    let (t, tp) = at.field("type")?;
    let t = At::new(t, &tp).str()?;
    Ok(match at.opt("index")? {
        Some((i, ip)) => format!("{t}:{}", At::new(i, &ip).i64()?),
        None => t.to_string(),
    })
}

/// Refuses a declared value whose fixed sizes overflow or exceed `max` bytes (a dynamic one is
/// checked when the run knows its sizes).
pub(crate) fn check_size(spec: &TensorSpec, max: u64, at: &str) -> Result<()> {
    let mut bytes = spec.dtype.size() as u64;
    for d in &spec.shape {
        match d {
            Dim::Fixed(n) => {
                bytes = bytes.checked_mul(*n as u64).ok_or_else(|| {
                    bad(
                        at,
                        format!("{} declares sizes whose product overflows", spec.name),
                    )
                })?
            }
            Dim::Symbol(_) => return Ok(()),
        }
    }
    if bytes > max {
        return Err(crate::graph::budget::over(
            &format!("{at} ({} declared {})", spec.name, shape_text(&spec.shape)),
            max,
            bytes,
        ));
    }
    Ok(())
}

/// `[2, s77, 32]`, for messages.
pub(crate) fn shape_text(shape: &[Dim]) -> String {
    let dims: Vec<String> = shape.iter().map(Dim::to_string).collect();
    format!("[{}]", dims.join(", "))
}
