//! Why a checkpoint file was refused, and the stable machine names of those reasons.

use std::path::PathBuf;

/// The machine-readable class of a checkpoint error (printed by `inspect --json`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A global outside the allowlist (`unsafe_global`).
    UnsafeGlobal,
    /// Not a checkpoint tensorport reads (`unsupported_format`).
    UnsupportedFormat,
    /// An inconsistent zip container (`malformed_zip`).
    MalformedZip,
    /// The file ends early (`truncated`).
    Truncated,
    /// A record the checkpoint needs is absent (`missing_record`).
    MissingRecord,
    /// A malformed pickle stream (`malformed_pickle`).
    MalformedPickle,
    /// A view or record that does not fit its storage (`storage_bounds`).
    StorageBounds,
    /// A size beyond 64 bits or the address space (`size_overflow`).
    SizeOverflow,
    /// A CRC-32 mismatch (`checksum_mismatch`).
    ChecksumMismatch,
    /// A cap on work or memory was reached (`resource_limit`).
    ResourceLimit,
    /// A storage cannot be placed where it is saved or mapped (`device_unavailable`).
    DeviceUnavailable,
    /// Reading the file failed (`io`).
    Io,
    /// A safetensors header that breaks the format's rules (`malformed_safetensors`).
    MalformedSafetensors,
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
            ErrorKind::MalformedSafetensors => "malformed_safetensors",
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
        /// The pickle record (`archive/data.pkl`).
        record: String,
        /// Byte offset of the opcode in the record.
        offset: u64,
        /// `module.name` as the pickle spells it.
        global: String,
        /// Why it is refused.
        reason: String,
    },

    /// A file or record that is not a torch.save checkpoint we can read.
    #[error("unsupported format: {detail}")]
    UnsupportedFormat {
        /// What was found.
        detail: String,
    },

    /// The zip container is inconsistent.
    #[error("malformed zip: {detail}")]
    MalformedZip {
        /// What is inconsistent.
        detail: String,
    },

    /// The file ends before a structure it declares.
    #[error("truncated: {what} (needs {needed} bytes at offset {offset}, {available} available)")]
    Truncated {
        /// The structure being read.
        what: String,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes the file has there.
        available: u64,
    },

    /// A record that the checkpoint needs is absent.
    #[error("missing record {name}")]
    MissingRecord {
        /// The record's full name.
        name: String,
    },

    /// The pickle stream is not well formed.
    #[error("{record}: malformed pickle at byte {offset}{}: {detail}", opcode_suffix(*.opcode))]
    MalformedPickle {
        /// The pickle record.
        record: String,
        /// Byte offset in the record.
        offset: u64,
        /// The opcode byte, when one was read.
        opcode: Option<u8>,
        /// What is wrong.
        detail: String,
    },

    /// A tensor view or record size does not fit its storage.
    #[error("{tensor}: {detail}")]
    StorageBounds {
        /// The tensor or storage.
        tensor: String,
        /// What does not fit.
        detail: String,
    },

    /// A declared size does not fit in 64 bits or in this machine's address space.
    #[error("{what}: size overflows ({detail})")]
    SizeOverflow {
        /// The size being computed.
        what: String,
        /// Its factors.
        detail: String,
    },

    /// A record's CRC-32 differs from the one in the central directory.
    #[error(
        "record {record}: CRC-32 mismatch (directory says {expected:08x}, data has {actual:08x})"
    )]
    ChecksumMismatch {
        /// The record.
        record: String,
        /// The CRC the directory records.
        expected: u32,
        /// The CRC of the bytes.
        actual: u32,
    },

    /// A cap on work or memory that protects against hostile input was reached.
    #[error("{record}: resource limit: {limit} (limit {max}, reached {value})")]
    ResourceLimit {
        /// The record being read.
        record: String,
        /// Which limit (`max_objects`, `max_depth`, ...).
        limit: &'static str,
        /// The limit.
        max: u64,
        /// The value that reached it.
        value: u64,
    },

    /// A storage's saved location names a device type tensorport cannot restore (torch's
    /// "don't know how to restore data location"), and `map_location` does not place it.
    #[error(
        "don't know how to restore data location of a storage tagged with '{location}'; use \
         map_location to place it on cpu or cuda"
    )]
    UnknownLocation {
        /// The saved location tag.
        location: String,
    },

    /// Reading the file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        #[source]
        /// What the system said.
        source: std::io::Error,
    },

    /// Host memory for a record or storage the file declares could not be allocated.
    #[error("{what}: cannot allocate {bytes} bytes of host memory")]
    OutOfMemory {
        /// What the memory was for (`storage data/0`, `inflating record archive/data.pkl`).
        what: String,
        /// How many bytes were asked for.
        bytes: u64,
    },

    /// A storage's saved location is one torch's default restore refuses (`cpu:0`, `foo:0`,
    /// `cuda:01`), or one tensorport cannot place tensors on (`mps`), and `map_location` does
    /// not place it elsewhere.
    #[error(
        "{storage} is saved on '{location}': {reason}; pass map_location (e.g. cpu) to place it"
    )]
    UnrestorableLocation {
        /// The storage (`storage data/0`, `storage 140230` in legacy files).
        storage: String,
        /// The saved location tag, verbatim.
        location: String,
        /// Why it cannot be restored, and what torch does with it.
        reason: String,
    },

    /// A legacy (non-zip) file whose pickles are well formed but do not fit together: a header
    /// pickle naming a storage, a storage key list that is not one, a storage the data section
    /// lacks.
    #[error("legacy file: {part} (the pickle at file offset {offset}): {detail}")]
    MalformedLegacy {
        /// Which of the file's pickles (`sys info`, `storage keys`, `main pickle`).
        part: String,
        /// Where that pickle starts in the file.
        offset: u64,
        /// What is wrong.
        detail: String,
    },

    /// A safetensors file whose header breaks the format's rules: not JSON, an unknown dtype, a
    /// tensor named twice, byte ranges that overlap, leave a gap or miss the end of the file.
    #[error("safetensors: {detail}")]
    MalformedSafetensors {
        /// What is wrong, naming the tensor.
        detail: String,
    },
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
            CheckpointError::UnknownLocation { .. } => ErrorKind::DeviceUnavailable,
            CheckpointError::Io { .. } => ErrorKind::Io,
            CheckpointError::OutOfMemory { .. } => ErrorKind::ResourceLimit,
            CheckpointError::UnrestorableLocation { .. } => ErrorKind::DeviceUnavailable,
            CheckpointError::MalformedLegacy { .. } => ErrorKind::MalformedPickle,
            CheckpointError::MalformedSafetensors { .. } => ErrorKind::MalformedSafetensors,
        }
    }
}
