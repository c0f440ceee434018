//! The crate's one error type. Checkpoint parsing has its own enum, nested as one variant, so a
//! caller can match on `Error::Checkpoint(e)` and ask `e.kind()` for the stable machine name
//! that `tensorport inspect --json` prints.

use std::path::PathBuf;

use crate::dtype::DType;

/// Everything that can go wrong in tensorport.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),

    /// An operating-system call failed on a file.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A tensor had another dtype than the operation needs.
    #[error("{op}: expected dtype {expected}, got {got}")]
    DType {
        op: &'static str,
        expected: String,
        got: DType,
    },

    /// Shapes, strides or sizes that do not fit the operation.
    #[error("{op}: expected {expected}, got {got}")]
    Shape {
        op: &'static str,
        expected: String,
        got: String,
    },

    /// An argument outside what the operation accepts.
    #[error("{op}: invalid argument {name}: {reason}")]
    InvalidArgument {
        op: &'static str,
        name: &'static str,
        reason: String,
    },

    /// A device string that torch would not accept either.
    #[error("invalid device string '{text}': {reason}")]
    DeviceParse { text: String, reason: String },

    /// A tensor or storage would have to be placed on a device this process cannot use.
    #[error("{message}")]
    DeviceUnavailable { device: String, message: String },

    /// Tensors on different devices were mixed in one operation.
    #[error("{op}: expected all tensors on {expected}, found one on {got}")]
    DeviceMismatch {
        op: &'static str,
        expected: String,
        got: String,
    },

    /// A key or path that the value tree does not hold.
    #[error("{what} not found: {key}")]
    NotFound { what: &'static str, key: String },

    /// A value of another Python type than expected.
    #[error("expected {expected} at {path}, found {got}")]
    ValueType {
        path: String,
        expected: &'static str,
        got: &'static str,
    },

    /// A state dict that does not fit a model (`load_state_dict`), worded as PyTorch words it.
    #[error("Error(s) in loading state_dict for {model}:{}", load_errors(.missing, .unexpected, .mismatched))]
    LoadStateDict {
        model: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
        /// (key, shape in the checkpoint, shape in the model)
        mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
    },

    /// A size computation that does not fit in memory.
    #[error("{what}: size overflows")]
    Overflow { what: String },

    /// A CUDA driver call failed. `code` is the raw `CUresult` and `detail` its enum name
    /// (`CUDA_ERROR_OUT_OF_MEMORY`), taken without calling into the driver, so the error can be
    /// formatted even when the driver is broken.
    #[error("{op}: CUDA driver error {code} ({detail})")]
    Cuda {
        op: String,
        code: i32,
        detail: String,
    },

    /// A CUDA device was asked for but cannot be used in this process.
    #[error("CUDA is not available: {reason}")]
    NoCuda { reason: NoCudaReason },
}

/// Why no CUDA device (or not the requested one) can be used. Detection never panics; each
/// failure mode has its own variant so callers can tell "no GPU here" from "broken install".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoCudaReason {
    /// This build of tensorport has no CUDA runtime (`--no-default-features`).
    #[error("built without the cuda feature")]
    NotCompiled,
    /// The NVIDIA driver library (`libcuda.so.1` / `nvcuda.dll`) could not be opened.
    #[error("the NVIDIA driver library (libcuda) was not found; install an NVIDIA driver")]
    NoDriverLibrary,
    /// The driver library loaded but did not work (a missing symbol, `cuInit` failing).
    #[error("the NVIDIA driver is present but not usable: {detail}")]
    DriverBroken { detail: String },
    /// The driver works and reports no CUDA device (`CUDA_ERROR_NO_DEVICE`, or a count of 0).
    #[error("the NVIDIA driver reports no CUDA device")]
    NoDevice,
    /// The requested ordinal is not below the number of devices.
    #[error("cuda:{ordinal} does not exist: {count} CUDA device(s) present")]
    OrdinalOutOfRange { ordinal: usize, count: usize },
}

/// The machine-readable class of a checkpoint error (printed by `inspect --json`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    UnsafeGlobal,
    UnsupportedFormat,
    MalformedZip,
    Truncated,
    MissingRecord,
    MalformedPickle,
    StorageBounds,
    SizeOverflow,
    ChecksumMismatch,
    ResourceLimit,
    DeviceUnavailable,
    Io,
}

impl ErrorKind {
    /// The stable snake_case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnsafeGlobal => "unsafe_global",
            ErrorKind::UnsupportedFormat => "unsupported_format",
            ErrorKind::MalformedZip => "malformed_zip",
            ErrorKind::Truncated => "truncated",
            ErrorKind::MissingRecord => "missing_record",
            ErrorKind::MalformedPickle => "malformed_pickle",
            ErrorKind::StorageBounds => "storage_bounds",
            ErrorKind::SizeOverflow => "size_overflow",
            ErrorKind::ChecksumMismatch => "checksum_mismatch",
            ErrorKind::ResourceLimit => "resource_limit",
            ErrorKind::DeviceUnavailable => "device_unavailable",
            ErrorKind::Io => "io",
        }
    }
}

/// Why a checkpoint file was refused. Every variant names where the problem is: the record, the
/// byte offset inside the pickle, the opcode, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A pickle referenced a global outside the allowlist; nothing was imported or called.
    #[error("{record}: unsupported global {global} at byte {offset}: {reason}")]
    UnsafeGlobal {
        record: String,
        offset: u64,
        global: String,
        reason: String,
    },

    /// A file or record that is not a torch.save checkpoint we can read.
    #[error("unsupported format: {detail}")]
    UnsupportedFormat { detail: String },

    /// The zip container is inconsistent.
    #[error("malformed zip: {detail}")]
    MalformedZip { detail: String },

    /// The file ends before a structure it declares.
    #[error("truncated: {what} (needs {needed} bytes at offset {offset}, {available} available)")]
    Truncated {
        what: String,
        offset: u64,
        needed: u64,
        available: u64,
    },

    /// A record that the checkpoint needs is absent.
    #[error("missing record {name}")]
    MissingRecord { name: String },

    /// The pickle stream is not well formed.
    #[error("{record}: malformed pickle at byte {offset}{}: {detail}", opcode_suffix(*.opcode))]
    MalformedPickle {
        record: String,
        offset: u64,
        opcode: Option<u8>,
        detail: String,
    },

    /// A tensor view or record size does not fit its storage.
    #[error("{tensor}: {detail}")]
    StorageBounds { tensor: String, detail: String },

    /// A declared size does not fit in 64 bits or in this machine's address space.
    #[error("{what}: size overflows ({detail})")]
    SizeOverflow { what: String, detail: String },

    /// A record's CRC-32 differs from the one in the central directory.
    #[error(
        "record {record}: CRC-32 mismatch (directory says {expected:08x}, data has {actual:08x})"
    )]
    ChecksumMismatch {
        record: String,
        expected: u32,
        actual: u32,
    },

    /// A cap on work or memory that protects against hostile input was reached.
    #[error("{record}: resource limit: {limit} (limit {max}, reached {value})")]
    ResourceLimit {
        record: String,
        limit: &'static str,
        max: u64,
        value: u64,
    },

    /// A storage's target device does not exist or cannot be used.
    #[error("{message}")]
    DeviceUnavailable { location: String, message: String },

    /// Reading the file failed.
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn load_errors(
    missing: &[String],
    unexpected: &[String],
    mismatched: &[(String, Vec<usize>, Vec<usize>)],
) -> String {
    let quote = |v: &[String]| {
        v.iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::new();
    if !missing.is_empty() {
        s += &format!("\n\tMissing key(s) in state_dict: {}.", quote(missing));
    }
    if !unexpected.is_empty() {
        s += &format!(
            "\n\tUnexpected key(s) in state_dict: {}.",
            quote(unexpected)
        );
    }
    for (k, ckpt, model) in mismatched {
        s += &format!(
            "\n\tsize mismatch for {k}: copying a param with shape {ckpt:?} from checkpoint, \
             the shape in current model is {model:?}."
        );
    }
    s
}

fn opcode_suffix(op: Option<u8>) -> String {
    match op {
        Some(b) if b.is_ascii_graphic() => format!(" (opcode 0x{b:02x} '{}')", b as char),
        Some(b) => format!(" (opcode 0x{b:02x})"),
        None => String::new(),
    }
}

impl CheckpointError {
    /// The machine-readable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CheckpointError::UnsafeGlobal { .. } => ErrorKind::UnsafeGlobal,
            CheckpointError::UnsupportedFormat { .. } => ErrorKind::UnsupportedFormat,
            CheckpointError::MalformedZip { .. } => ErrorKind::MalformedZip,
            CheckpointError::Truncated { .. } => ErrorKind::Truncated,
            CheckpointError::MissingRecord { .. } => ErrorKind::MissingRecord,
            CheckpointError::MalformedPickle { .. } => ErrorKind::MalformedPickle,
            CheckpointError::StorageBounds { .. } => ErrorKind::StorageBounds,
            CheckpointError::SizeOverflow { .. } => ErrorKind::SizeOverflow,
            CheckpointError::ChecksumMismatch { .. } => ErrorKind::ChecksumMismatch,
            CheckpointError::ResourceLimit { .. } => ErrorKind::ResourceLimit,
            CheckpointError::DeviceUnavailable { .. } => ErrorKind::DeviceUnavailable,
            CheckpointError::Io { .. } => ErrorKind::Io,
        }
    }
}

impl Error {
    /// The checkpoint error kind, when this is a checkpoint error.
    pub fn checkpoint_kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Checkpoint(e) => Some(e.kind()),
            Error::Io { .. } => Some(ErrorKind::Io),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
