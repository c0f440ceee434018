//! Symbolic resolution of pickle globals. Nothing is imported: a `(module, name)` pair either maps
//! to one of the few globals we understand, or the pickle is refused. The accepted set is a subset
//! of torch 2.15's `weights_only=True` allowlist; globals torch allows but we cannot represent are
//! refused as unsupported, never skipped.

use crate::dtype::DType;
use crate::error::CheckpointError;

/// A global the reader understands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Global {
    OrderedDict,
    Counter,
    Set,
    Complex,
    ByteArray,
    /// `_codecs.encode`: how protocol 2 pickles `bytes`.
    CodecsEncode,
    Size,
    Device,
    /// `torch.Tensor`, as the class argument of `_rebuild_from_type_v2`.
    TensorClass,
    /// `torch.nn.parameter.Parameter`.
    Parameter,
    /// A bare dtype object (`torch.float16`).
    DType(DType),
    /// A storage class in a persistent id: typed (`torch.FloatStorage`), or untyped (`None`).
    Storage(Option<DType>),
    Rebuild(Rebuild),
}

/// The tensor rebuild functions we implement.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rebuild {
    /// `torch._utils._rebuild_tensor` (legacy, 4 arguments).
    Tensor,
    TensorV2,
    TensorV3,
    Parameter,
    ParameterWithState,
    /// `torch._tensor._rebuild_from_type_v2`.
    FromTypeV2,
}

impl Global {
    /// The Python name, for messages.
    pub fn python_name(&self) -> String {
        match self {
            Global::OrderedDict => "collections.OrderedDict".into(),
            Global::Counter => "collections.Counter".into(),
            Global::Set => "builtins.set".into(),
            Global::Complex => "builtins.complex".into(),
            Global::ByteArray => "builtins.bytearray".into(),
            Global::CodecsEncode => "_codecs.encode".into(),
            Global::Size => "torch.Size".into(),
            Global::Device => "torch.device".into(),
            Global::TensorClass => "torch.Tensor".into(),
            Global::Parameter => "torch.nn.parameter.Parameter".into(),
            Global::DType(d) => format!("torch.{d}"),
            Global::Storage(Some(d)) => format!("a torch storage class of {d}"),
            Global::Storage(None) => "torch.UntypedStorage".into(),
            Global::Rebuild(r) => r.python_name().into(),
        }
    }
}

impl Rebuild {
    /// The Python name, for messages.
    pub fn python_name(&self) -> &'static str {
        match self {
            Rebuild::Tensor => "torch._utils._rebuild_tensor",
            Rebuild::TensorV2 => "torch._utils._rebuild_tensor_v2",
            Rebuild::TensorV3 => "torch._utils._rebuild_tensor_v3",
            Rebuild::Parameter => "torch._utils._rebuild_parameter",
            Rebuild::ParameterWithState => "torch._utils._rebuild_parameter_with_state",
            Rebuild::FromTypeV2 => "torch._tensor._rebuild_from_type_v2",
        }
    }
}

/// The advice given when a pickle holds a whole module rather than its state dict.
pub const NN_MODULE_REASON: &str = "this file pickles a whole nn.Module (torch.save(model)); \
    save `model.state_dict()` instead and load that";

/// Modules whose globals are refused with a "blocked" reason (torch blocks the first four even
/// when a user allowlists them; the rest run commands or code).
const BLOCKED_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "sys",
    "subprocess",
    "shutil",
    "socket",
    "runpy",
    "pty",
    "importlib",
    "pickle",
    "_pickle",
    "marshal",
    "ctypes",
    "code",
    "webbrowser",
];

/// Builtins that evaluate code or reach into objects.
const BLOCKED_BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "execfile",
    "compile",
    "open",
    "__import__",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "input",
    "breakpoint",
    "apply",
    "memoryview",
    "type",
    "object",
];

/// Where a global was met, for error messages.
#[derive(Copy, Clone, Debug)]
pub struct Site<'a> {
    pub record: &'a str,
    pub offset: u64,
    /// The whole pickle, searched only on the error path for signs of a pickled nn.Module.
    pub data: &'a [u8],
}

/// Maps Python 2 module names the way CPython's `fix_imports` does.
pub fn map_python2(module: &str) -> &str {
    match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        "cPickle" => "pickle",
        "UserDict" => "collections",
        other => other,
    }
}

/// Resolves `module.name` against the allowlist.
pub fn resolve(module: &str, name: &str, site: Site<'_>) -> Result<Global, CheckpointError> {
    let module = map_python2(module);
    if let Some(g) = allowed(module, name) {
        return Ok(g);
    }
    let global = format!("{module}.{name}");
    if let Some(what) = torch_allowed_unsupported(module, name) {
        return Err(CheckpointError::UnsupportedFormat {
            detail: format!(
                "{}: global {global} at byte {} ({what}) is not supported by tensorport",
                site.record, site.offset
            ),
        });
    }
    Err(CheckpointError::UnsafeGlobal {
        record: site.record.to_string(),
        offset: site.offset,
        reason: refusal_reason(module, name, site.data),
        global,
    })
}

fn allowed(module: &str, name: &str) -> Option<Global> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("collections", "Counter") => Global::Counter,
        ("builtins", "set") => Global::Set,
        ("builtins", "complex") => Global::Complex,
        ("builtins", "bytearray") => Global::ByteArray,
        ("_codecs", "encode") => Global::CodecsEncode,
        ("torch", "Size") => Global::Size,
        ("torch", "device") => Global::Device,
        ("torch", "Tensor") => Global::TensorClass,
        ("torch.nn.parameter", "Parameter") => Global::Parameter,
        ("torch.storage", "UntypedStorage") => Global::Storage(None),
        ("torch._utils", "_rebuild_tensor") => Global::Rebuild(Rebuild::Tensor),
        ("torch._utils", "_rebuild_tensor_v2") => Global::Rebuild(Rebuild::TensorV2),
        ("torch._utils", "_rebuild_tensor_v3") => Global::Rebuild(Rebuild::TensorV3),
        ("torch._utils", "_rebuild_parameter") => Global::Rebuild(Rebuild::Parameter),
        ("torch._utils", "_rebuild_parameter_with_state") => {
            Global::Rebuild(Rebuild::ParameterWithState)
        }
        ("torch._tensor", "_rebuild_from_type_v2") => Global::Rebuild(Rebuild::FromTypeV2),
        ("torch" | "torch.cuda", class) if class.ends_with("Storage") => {
            Global::Storage(Some(DType::from_storage_class(class)?))
        }
        // Only canonical names: torch's allowlist holds `str(dtype)`, never aliases like `torch.float`.
        ("torch", n) => match DType::from_torch_name(n) {
            Some(d) if d.name() == n => Global::DType(d),
            _ => return None,
        },
        _ => return None,
    })
}

/// Globals torch's weights-only loader accepts but tensorport cannot represent; the text says what
/// they are.
fn torch_allowed_unsupported(module: &str, name: &str) -> Option<&'static str> {
    const REBUILDS: &[&str] = &[
        "_rebuild_qtensor",
        "_rebuild_sparse_tensor",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_wrapper_subclass",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_device_tensor_from_cpu_tensor",
    ];
    const TORCH_NAMES: &[&str] = &[
        "bcomplex32",
        "bits8",
        "bits16",
        "bits1x8",
        "bits2x4",
        "bits4x2",
        "qint8",
        "qint32",
        "quint8",
        "quint4x2",
        "quint2x4",
        "per_tensor_affine",
        "per_tensor_symmetric",
        "per_channel_affine",
        "per_channel_symmetric",
        "per_channel_affine_float_qparams",
        "int1",
        "int2",
        "int3",
        "int4",
        "int5",
        "int6",
        "int7",
        "uint1",
        "uint2",
        "uint3",
        "uint4",
        "uint5",
        "uint6",
        "uint7",
    ];
    const QSTORAGES: &[&str] = &[
        "QInt8Storage",
        "QUInt8Storage",
        "QInt32Storage",
        "QUInt4x2Storage",
        "QUInt2x4Storage",
    ];
    const TENSOR_TYPES: &[&str] = &[
        "Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
    ];
    let legacy_tensor = || {
        name.strip_suffix("Tensor")
            .is_some_and(|t| TENSOR_TYPES.contains(&t))
    };
    match module {
        "torch._utils" if REBUILDS.contains(&name) => {
            Some("a quantized, sparse, meta or device-specific tensor rebuild")
        }
        "torch.serialization" if name == "_get_layout" => Some("a sparse tensor layout"),
        "torch.storage" if name == "TypedStorage" => Some("a bare TypedStorage"),
        "torch" if TORCH_NAMES.contains(&name) => Some("a quantized or sub-byte dtype"),
        "torch" if QSTORAGES.contains(&name) => Some("a quantized storage"),
        "torch" | "torch.cuda" | "torch.sparse" | "torch.cuda.sparse" if legacy_tensor() => {
            Some("a legacy tensor type")
        }
        _ => None,
    }
}

fn refusal_reason(module: &str, name: &str, data: &[u8]) -> String {
    let root = module.split('.').next().unwrap_or(module);
    if BLOCKED_MODULES.contains(&root) {
        return format!("module `{root}` is blocked: its globals can run commands or code");
    }
    if module == "builtins" && BLOCKED_BUILTINS.contains(&name) {
        return format!(
            "builtins.{name} can execute code or reach arbitrary objects; it is never allowed"
        );
    }
    if module == "builtins" && name == "frozenset" {
        return "frozenset is not in torch's weights-only allowlist".to_string();
    }
    if module.starts_with("torch.nn.modules")
        || module.starts_with("torch.nn.parallel")
        || looks_like_module(data)
    {
        return NN_MODULE_REASON.to_string();
    }
    "not an allowed global: tensorport only accepts what torch.load(weights_only=True) accepts \
     (tensors, containers, numbers, strings, dtypes, devices)"
        .to_string()
}

/// Whether the pickle carries the attribute names every `nn.Module` pickles (`_modules`,
/// `_parameters`); only consulted when a global has already been refused.
fn looks_like_module(data: &[u8]) -> bool {
    let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    has(b"_modules") && has(b"_parameters")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site<'static> {
        Site {
            record: "data.pkl",
            offset: 2,
            data: b"",
        }
    }

    #[test]
    fn allowlisted_and_refused() {
        assert_eq!(resolve("__builtin__", "set", site()).unwrap(), Global::Set);
        assert_eq!(
            resolve("torch", "FloatStorage", site()).unwrap(),
            Global::Storage(Some(DType::F32))
        );
        assert_eq!(
            resolve("torch.cuda", "HalfStorage", site()).unwrap(),
            Global::Storage(Some(DType::F16))
        );
        assert_eq!(
            resolve("torch", "float8_e4m3fn", site()).unwrap(),
            Global::DType(DType::F8E4M3Fn)
        );
        for (m, n) in [
            ("torch", "float"),
            ("torch", "load"),
            ("builtins", "frozenset"),
        ] {
            let e = resolve(m, n, site()).unwrap_err();
            assert_eq!(e.kind().as_str(), "unsafe_global", "{m}.{n}");
        }
        let e = resolve("posix", "system", site()).unwrap_err();
        assert!(e.to_string().contains("blocked"), "{e}");
        let e = resolve("__builtin__", "eval", site()).unwrap_err();
        assert!(e.to_string().contains("builtins.eval"), "{e}");
        let e = resolve("torch.nn.modules.linear", "Linear", site()).unwrap_err();
        assert!(e.to_string().contains("state_dict()"), "{e}");
        for (m, n) in [
            ("torch._utils", "_rebuild_qtensor"),
            ("torch.serialization", "_get_layout"),
            ("torch", "qint8"),
            ("torch", "QInt8Storage"),
            ("torch.cuda", "FloatTensor"),
        ] {
            let e = resolve(m, n, site()).unwrap_err();
            assert_eq!(e.kind().as_str(), "unsupported_format", "{m}.{n}");
            assert!(e.to_string().contains(&format!("{m}.{n}")), "{e}");
        }
    }
}
