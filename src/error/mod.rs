//! The crate's one error type. Checkpoint parsing has its own enum, nested as one variant, so a
//! caller can match on `Error::Checkpoint(e)` and ask `e.kind()` for the stable machine name
//! that `tensorport inspect --json` prints.

mod checkpoint;

use std::path::PathBuf;

pub use checkpoint::{CheckpointError, ErrorKind};

use crate::device::Device;
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
        /// What was being done (`writing`, `renaming`, ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },

    /// An operand of a dtype the operation does not support.
    #[error("{op}: {operand} has dtype {got}; supported: {supported}")]
    DType {
        /// The operation.
        op: &'static str,
        /// Which operand (`input`, `weight`, `out`, ...).
        operand: &'static str,
        /// Its dtype.
        got: DType,
        /// The dtypes the operation accepts there.
        supported: String,
    },

    /// Two operands whose dtypes must be equal are not (PyTorch: "Input type (double) and
    /// weight type (float) should be the same").
    #[error("{op}: {first} has dtype {first_dtype} but {second} has {second_dtype}; they must have one dtype")]
    DTypeMismatch {
        /// The operation.
        op: &'static str,
        /// The operand that set the dtype (the input, usually).
        first: &'static str,
        /// Its dtype.
        first_dtype: DType,
        /// The operand that differs.
        second: &'static str,
        /// Its dtype.
        second_dtype: DType,
    },

    /// Shapes, strides or sizes that do not fit the operation.
    #[error("{op}: expected {expected}, got {got}")]
    Shape {
        /// The operation.
        op: &'static str,
        /// What fits.
        expected: String,
        /// What was given.
        got: String,
    },

    /// An argument outside what the operation accepts.
    #[error("{op}: invalid argument {name}: {reason}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// The argument.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },

    /// A device string that torch would not accept either.
    #[error("invalid device string '{text}': {reason}")]
    DeviceParse {
        /// The string.
        text: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A device type torch knows but tensorport cannot hold tensors on (`mps`, `xpu`, ...).
    #[error("tensorport cannot place tensors on device '{device}' (supported: cpu, cuda)")]
    UnsupportedDevice {
        /// The device as torch spells it.
        device: String,
    },

    /// CUDA cannot be used for `device`: no driver, no device, no such ordinal, or a build
    /// without CUDA (the reason says which). The one error for "no GPU", wherever it shows up:
    /// moving a tensor, running an op, or placing a checkpoint's storages (then
    /// `saved_location` is the storage's saved tag, and the message is torch.load's).
    #[error("{}", cuda_unavailable(.device, .reason, .saved_location.as_deref()))]
    CudaUnavailable {
        /// The CUDA device that was asked for.
        device: Device,
        /// Why it cannot be used.
        reason: NoCudaReason,
        /// When a checkpoint storage was being placed there: its saved location tag.
        saved_location: Option<String>,
    },

    /// Data that is not in host memory was asked for as host bytes.
    #[error(
        "the data lives on {device}, not in host memory; copy it to the CPU first \
         (Tensor::to(&Device::Cpu))"
    )]
    NotOnHost {
        /// Where the data lives.
        device: Device,
    },

    /// A storage of torch's `meta` device, which holds no data, was asked for its bytes.
    #[error("a meta storage holds no data (it was saved or loaded on the meta device)")]
    MetaStorage,

    /// Tensors on different devices were mixed in one operation.
    #[error("{op}: expected all tensors on {expected}, found one on {got}")]
    DeviceMismatch {
        /// The operation.
        op: &'static str,
        /// The device of the first operand.
        expected: Device,
        /// The device of the one that differs.
        got: Device,
    },

    /// A key or path that the value tree does not hold.
    #[error("{what} not found: {key}")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// The key, or what was found instead.
        key: String,
    },

    /// A value of another Python type than expected.
    #[error("expected {expected} at {path}, found {got}")]
    ValueType {
        /// Where in the value tree.
        path: String,
        /// The type that was needed.
        expected: &'static str,
        /// The type found.
        got: &'static str,
    },

    /// A state dict that does not fit a model (`load_state_dict`), worded as PyTorch words it.
    #[error("Error(s) in loading state_dict for {model}:{}", load_errors(.missing, .unexpected, .mismatched))]
    LoadStateDict {
        /// The model's name, as it appears in the message.
        model: String,
        /// Model keys the state dict lacks.
        missing: Vec<String>,
        /// State-dict keys the model lacks.
        unexpected: Vec<String>,
        /// (key, shape in the checkpoint, shape in the model)
        mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
    },

    /// A size computation that does not fit in 64 bits or in the address space.
    #[error("{what}: size overflows")]
    Overflow {
        /// The size being computed.
        what: String,
    },

    /// Host memory could not be allocated.
    #[error("out of memory: {what} ({bytes} bytes)")]
    OutOfMemory {
        /// What the memory was for.
        what: String,
        /// How much was asked for.
        bytes: usize,
    },

    /// An image that cannot be used: not PNG or JPEG, corrupt or truncated, larger than the
    /// decoding limits, or (in a batch) of another size than the others. `fault` says which.
    #[error("image {image}: {reason}")]
    Image {
        /// The image: its path, or the name its caller gave it, or its place in a batch.
        image: String,
        /// The kind of failure, to match on.
        fault: ImageFault,
        /// What is wrong, in words.
        reason: String,
    },

    /// A `torch.export` program (`.pt2`) that cannot be read or run: where (a record, a node,
    /// a weight, a value) and why. Found while loading, before any work runs, whenever the
    /// archive alone can show it.
    #[error("{at}: {reason}")]
    Program {
        /// The record, node, weight or value at fault.
        at: String,
        /// What is wrong.
        reason: String,
    },

    /// A program uses an op tensorport does not run: found when loading, never halfway
    /// through a run.
    #[error("node {node}: {target} is not supported (tensorport runs {supported})")]
    UnsupportedOp {
        /// The node's name in the graph.
        node: String,
        /// The ATen op (`torch.ops.aten.<name>.<overload>`).
        target: String,
        /// The ops that are supported.
        supported: String,
    },

    /// A CUDA driver call failed. `code` is the raw `CUresult` and `name` its enum name
    /// (`CUDA_ERROR_OUT_OF_MEMORY`), taken without calling into the driver, so the error can be
    /// formatted even when the driver is broken. The device stays usable: the failed operation
    /// had no effect, or (a failed launch) left only its output undefined.
    #[error("{op} on {device}: CUDA driver error {code} ({name})")]
    Cuda {
        /// The device the call was for.
        device: Device,
        /// What was being done.
        op: String,
        /// The `CUresult`.
        code: i32,
        /// Its name.
        name: String,
    },

    /// The device hit a fault (an illegal address, a failed kernel, a hardware error). CUDA
    /// makes such errors sticky: every later call on that device's context fails with the same
    /// code, for the rest of the process, and whatever was queued after the fault did not run.
    /// Other devices are unaffected; data on the host and files on disk are untouched.
    #[error(
        "{op} on {device}: the device faulted with CUDA error {code} ({name}); CUDA errors of \
         this kind are sticky, so {device} is unusable until this process exits"
    )]
    CudaFault {
        /// The device that faulted.
        device: Device,
        /// The operation that found the fault (it may not be the one that caused it: kernels
        /// run asynchronously).
        op: String,
        /// The `CUresult`.
        code: i32,
        /// Its name.
        name: String,
    },
}

/// What is wrong with an image ([`Error::Image`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFault {
    /// The bytes are neither PNG nor JPEG (by their magic bytes).
    NotAnImage,
    /// A PNG or JPEG that does not decode: truncated, corrupt, or a variant the decoder lacks.
    Corrupt,
    /// Dimensions or a file size over the decoding limits, refused before any pixel buffer is
    /// allocated.
    TooLarge,
    /// Images of different sizes after preprocessing, which cannot share a batch.
    SizeMismatch,
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
    DriverBroken {
        /// What failed.
        detail: String,
    },
    /// The `libcuda.so` that was found is the CUDA toolkit's link-time stub
    /// (`.../lib64/stubs/libcuda.so`), not the driver: `cuInit` returns
    /// `CUDA_ERROR_STUB_LIBRARY` (34).
    #[error(
        "the libcuda.so that was loaded is the CUDA toolkit's stub library (cuInit returned \
         CUDA_ERROR_STUB_LIBRARY, 34), not the NVIDIA driver: remove the toolkit's stubs \
         directory from LD_LIBRARY_PATH (the driver installs libcuda.so.1)"
    )]
    StubDriver,
    /// The driver library lacks an entry point tensorport needs (an older driver than the
    /// CUDA 12.4 API it was built against, or a broken install).
    #[error("the NVIDIA driver library lacks {symbol}; a driver for CUDA 12.4 or newer is needed")]
    MissingSymbol {
        /// The missing entry point.
        symbol: String,
    },
    /// The driver works and reports no CUDA device (`CUDA_ERROR_NO_DEVICE`, or a count of 0).
    #[error("the NVIDIA driver reports no CUDA device")]
    NoDevice,
    /// The requested ordinal is not below the number of devices.
    #[error("cuda:{ordinal} does not exist: {count} CUDA device(s) present")]
    OrdinalOutOfRange {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many devices there are.
        count: usize,
    },
}

/// The message of [`Error::CudaUnavailable`]: torch.load's words when a checkpoint storage was
/// being placed, else the device and the reason.
fn cuda_unavailable(device: &Device, reason: &NoCudaReason, saved: Option<&str>) -> String {
    let Some(tag) = saved else {
        return format!("{device}: CUDA is not available: {reason}");
    };
    match reason {
        NoCudaReason::OrdinalOutOfRange { ordinal, count } => format!(
            "Attempting to deserialize object on CUDA device {ordinal} (saved as '{tag}') but \
             only {count} CUDA devices are present; use map_location to map your storages to an \
             existing device."
        ),
        _ => format!(
            "Attempting to deserialize object on a CUDA device (saved as '{tag}', placed on \
             {device}) but CUDA is not available: {reason}. If you are running on a CPU-only \
             machine, use map_location=cpu (MapLocation::To(Device::Cpu), or --map-location cpu) \
             to map your storages to the CPU."
        ),
    }
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

impl Error {
    /// The machine-readable class of this error when it comes from reading a checkpoint (also
    /// file errors, and a storage that cannot be placed where `map_location` says).
    pub fn checkpoint_kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Checkpoint(e) => Some(e.kind()),
            Error::Io { .. } => Some(ErrorKind::Io),
            Error::CudaUnavailable { .. } | Error::UnsupportedDevice { .. } => {
                Some(ErrorKind::DeviceUnavailable)
            }
            Error::OutOfMemory { .. } => Some(ErrorKind::ResourceLimit),
            // CUDA_ERROR_OUT_OF_MEMORY: the device is fine, the checkpoint does not fit.
            Error::Cuda { code: 2, .. } => Some(ErrorKind::ResourceLimit),
            Error::Cuda { .. } | Error::CudaFault { .. } => Some(ErrorKind::DeviceUnavailable),
            _ => None,
        }
    }

    /// The reason CUDA cannot be used, when this is [`Error::CudaUnavailable`].
    pub fn no_cuda_reason(&self) -> Option<&NoCudaReason> {
        match self {
            Error::CudaUnavailable { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
