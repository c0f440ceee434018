//! The program reader's memory budget ([`crate::graph::ProgramOptions::max_bytes`]): what a
//! load may allocate because the archive says so (inflated records, parsed JSON, the graph,
//! copied or folded weights, sample inputs) is charged before it is allocated, and one value
//! computed by a run may not exceed it. Mapped weights cost nothing: they are the file.

use std::cell::Cell;

use serde_json::Value as Json;

use crate::checkpoint::MapLocation;
use crate::error::{CheckpointError, Error, Result};

/// Deepest JSON nesting read. torch's graphs nest about 10 levels; serde_json's own limit
/// (128) would give a vaguer message.
pub(crate) const MAX_JSON_DEPTH: usize = 100;

/// How to load a program.
#[derive(Clone, Debug)]
pub struct ProgramOptions {
    /// Where the weights go (torch's rules: `Keep` puts each where it was saved).
    pub map_location: MapLocation,
    /// The memory budget, in bytes: what the load may allocate because the archive says so
    /// (inflated records, the parsed graph, copied or folded weights, sample inputs; weights
    /// mapped from the file cost nothing), and the most one value computed by
    /// [`crate::graph::Program::run`] may hold. 512 MiB by default, as the checkpoint reader's
    /// [`crate::checkpoint::Limits::max_bytes`].
    pub max_bytes: u64,
}

impl Default for ProgramOptions {
    fn default() -> ProgramOptions {
        ProgramOptions {
            map_location: MapLocation::Keep,
            max_bytes: 512 << 20,
        }
    }
}

impl ProgramOptions {
    /// The defaults with `map_location`.
    pub fn to(map_location: &MapLocation) -> ProgramOptions {
        ProgramOptions {
            map_location: map_location.clone(),
            ..ProgramOptions::default()
        }
    }
}

/// The budget of one load, in bytes.
pub(crate) struct Budget {
    max: u64,
    used: Cell<u64>,
}

impl Budget {
    pub(crate) fn new(max: u64) -> Budget {
        Budget {
            max,
            used: Cell::new(0),
        }
    }

    /// What is left.
    pub(crate) fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used.get())
    }

    /// Counts `bytes` spent on `what` (a record, weight or node), or refuses them.
    pub(crate) fn charge(&self, what: &str, bytes: u64) -> Result<()> {
        let total = self.used.get().saturating_add(bytes);
        if total > self.max {
            return Err(over(what, self.max, total));
        }
        self.used.set(total);
        Ok(())
    }
}

/// The error for `what` needing `value` bytes of a `max`-byte budget.
pub(crate) fn over(what: &str, max: u64, value: u64) -> Error {
    Error::Checkpoint(CheckpointError::ResourceLimit {
        record: what.to_string(),
        limit: "max_bytes, the program reader's memory budget",
        max,
        value,
    })
}

/// Parses `bytes` (record `what`) as JSON after charging what the parsed tree can cost. A
/// linear scan first bounds the nesting and counts the values: a few MB of `[],[],...`
/// would otherwise parse into gigabytes before anything could look at it.
pub(crate) fn parse_json(bytes: &[u8], what: &str, budget: &Budget) -> Result<Json> {
    let (mut depth, mut values, mut in_str, mut esc) = (0usize, 1u64, false, false);
    for (at, &b) in bytes.iter().enumerate() {
        if in_str {
            match b {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                values += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(Error::Program {
                        at: what.to_string(),
                        reason: format!(
                            "JSON nested more than {MAX_JSON_DEPTH} levels deep (at byte {at})"
                        ),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' | b':' => values += 1,
            _ => {}
        }
    }
    // Each value is a tree node plus, in an object, its key, hash and index slot; an object's
    // entries are counted twice (at `:` and at `,`), which covers vectors grown past their
    // length. Strings are at most the record's bytes. (Measured: within 20% of the real heap
    // for torch's graphs.)
    let per_value = std::mem::size_of::<Json>() as u64 + 32;
    let cost = values
        .saturating_mul(per_value)
        .saturating_add(bytes.len() as u64);
    budget.charge(&format!("{what} (parsed JSON, {values} values)"), cost)?;
    serde_json::from_slice(bytes).map_err(|e| Error::Program {
        at: what.to_string(),
        reason: format!("not valid JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded_before_parsing() {
        let b = Budget::new(1 << 30);
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        let e = parse_json(deep.as_bytes(), "m.json", &b).expect_err("too deep");
        assert!(e.to_string().contains("nested more than 100"), "{e}");
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        parse_json(ok.as_bytes(), "m.json", &b).expect("100 levels");
        // Brackets inside strings are text.
        let s = format!("[\"{}\\\"\"]", "[".repeat(500));
        parse_json(s.as_bytes(), "m.json", &b).expect("a string of brackets");
    }

    #[test]
    fn a_json_tree_beyond_the_budget_is_refused_before_parsing() {
        let many = format!("[{}[]]", "[],".repeat(1_000_000));
        let e = parse_json(many.as_bytes(), "m.json", &Budget::new(64 << 20)).expect_err("big");
        assert!(
            matches!(e, Error::Checkpoint(CheckpointError::ResourceLimit { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("m.json"), "{e}");
        parse_json(many.as_bytes(), "m.json", &Budget::new(1 << 30)).expect("fits 1 GiB");
    }
}
