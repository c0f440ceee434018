//! Turns the arena object left at STOP into the public [`Value`] tree, iteratively (an explicit
//! stack, never recursion that the input drives). Each arena object becomes one value, cached by
//! id, so shared objects stay shared (one `Arc`) and a memo bomb costs its arena size, not its
//! expanded size. Nesting deeper than `max_depth` — and any cycle — is a resource-limit error, and
//! so is a tree whose expanded size (shared objects counted at every reference) exceeds
//! `max_objects`: a memo bomb is refused here instead of hanging whoever walks the result.

use std::collections::HashSet;
use std::sync::Arc;

use super::arena::{Arena, Id, Obj};
use crate::checkpoint::pickle::allowlist::Global;
use crate::checkpoint::pickle::Limits;
use crate::checkpoint::value::{Dict, HashKey, Value};
use crate::error::CheckpointError;

const VALUE_BYTES: u64 = std::mem::size_of::<Value>() as u64;
/// A `done` entry: id, value, height and size, with hash-map slack.
const DONE_ENTRY_BYTES: u64 = 96;
/// A dict's index entry (its key identity and position), with slack.
const INDEX_ENTRY_BYTES: u64 = 64;

struct Frame {
    id: Id,
    children: Vec<Id>,
    next: usize,
}

/// Freezes `root`, spending at most `budget` bytes on the frozen values (what is left of
/// `limits.max_bytes` after the machine's own objects).
pub(super) fn freeze(
    arena: &Arena,
    root: Id,
    record: &str,
    limits: &Limits,
    budget: u64,
) -> Result<Value, CheckpointError> {
    let too_deep = |value: usize| CheckpointError::ResourceLimit {
        record: record.to_string(),
        limit: "max_depth",
        max: limits.max_depth as u64,
        value: value as u64,
    };
    // Frozen containers with their nesting height (a leaf is 0, a container 1 + its deepest
    // child) and their expanded size (objects a walk over the tree would visit). The expanded
    // size is capped too, so that consumers walking the tree cannot be sent through a memo bomb.
    let mut done = Done::new(arena.len());
    let mut on_path = vec![false; arena.len()];
    let mut frames: Vec<Frame> = Vec::new();
    let mut spent = 0u64;
    if let Some(v) = leaf(arena, root, record)? {
        return Ok(v);
    }
    push_frame(arena, root, &mut frames, &mut on_path, limits, &too_deep)?;
    while let Some(top) = frames.last_mut() {
        if let Some(&child) = top.children.get(top.next) {
            top.next += 1;
            if let Some((_, h, _)) = done.get(child) {
                if frames.len() + h > limits.max_depth {
                    return Err(too_deep(frames.len() + h));
                }
            } else if on_path.get(child).copied().unwrap_or(false) {
                // Python builds such objects happily; a tree cannot hold one.
                return Err(CheckpointError::UnsupportedFormat {
                    detail: format!(
                        "{record}: a {} that contains itself (a reference cycle through the \
                         pickle memo): torch builds it, tensorport's value tree cannot hold a cycle",
                        arena.get(child).type_name()
                    ),
                });
            } else if !is_leaf(arena, child) {
                push_frame(arena, child, &mut frames, &mut on_path, limits, &too_deep)?;
            }
            continue;
        }
        let Some(frame) = frames.pop() else {
            break;
        };
        if let Some(p) = on_path.get_mut(frame.id) {
            *p = false;
        }
        let (mut height, mut expanded) = (1, 1u64);
        let mut vals = Vec::with_capacity(frame.children.len());
        for &c in &frame.children {
            match done.get(c) {
                Some((v, h, e)) => {
                    height = height.max(h + 1);
                    expanded = expanded.saturating_add(*e);
                    vals.push(v.clone());
                }
                None => {
                    expanded = expanded.saturating_add(1);
                    vals.push(leaf(arena, c, record)?.unwrap_or(Value::None));
                }
            }
        }
        // The frozen children, the cache entry, and for dicts their index.
        let per_child = VALUE_BYTES
            + if matches!(arena.get(frame.id), Obj::Dict { .. }) {
                INDEX_ENTRY_BYTES
            } else {
                0
            };
        spent = spent.saturating_add(DONE_ENTRY_BYTES + per_child * vals.len() as u64);
        if spent > budget {
            return Err(CheckpointError::ResourceLimit {
                record: record.to_string(),
                limit: super::stack::MAX_BYTES,
                max: limits.max_bytes,
                value: limits
                    .max_bytes
                    .saturating_sub(budget)
                    .saturating_add(spent),
            });
        }
        if expanded > limits.max_objects {
            return Err(CheckpointError::ResourceLimit {
                record: record.to_string(),
                limit: "max_objects (counting each shared reference)",
                max: limits.max_objects,
                value: expanded,
            });
        }
        let value = build(arena, frame.id, &frame.children, vals, record)?;
        if frame.id == root {
            return Ok(value);
        }
        done.insert(frame.id, (value, height, expanded));
    }
    Err(CheckpointError::MalformedPickle {
        record: record.to_string(),
        offset: 0,
        opcode: None,
        detail: "internal: freeze ended without a root".into(),
    })
}

/// Frozen containers by arena id: a dense slot per object (the arena is already that long), so
/// the walk over a 10,000-entry state dict hashes nothing.
struct Done {
    slot: Vec<u32>,
    values: Vec<(Value, usize, u64)>,
}

impl Done {
    const EMPTY: u32 = u32::MAX;

    fn new(objects: usize) -> Done {
        Done {
            slot: vec![Done::EMPTY; objects],
            values: Vec::new(),
        }
    }

    fn get(&self, id: Id) -> Option<&(Value, usize, u64)> {
        let s = *self.slot.get(id)?;
        self.values.get(usize::try_from(s).ok()?)
    }

    fn insert(&mut self, id: Id, v: (Value, usize, u64)) {
        // An arena of 2^32 objects is far beyond `max_objects`; such an id is just not cached.
        if let (Some(s), Ok(n)) = (self.slot.get_mut(id), u32::try_from(self.values.len())) {
            if n != Done::EMPTY {
                *s = n;
                self.values.push(v);
            }
        }
    }
}

/// Whether `id` freezes without children (see [`leaf`]), without building its value.
fn is_leaf(arena: &Arena, id: Id) -> bool {
    matches!(
        arena.get(id),
        Obj::Leaf(_) | Obj::Global(_) | Obj::Storage(_)
    )
}

fn push_frame(
    arena: &Arena,
    id: Id,
    frames: &mut Vec<Frame>,
    on_path: &mut [bool],
    limits: &Limits,
    too_deep: &dyn Fn(usize) -> CheckpointError,
) -> Result<(), CheckpointError> {
    if frames.len() + 1 > limits.max_depth {
        return Err(too_deep(frames.len() + 1));
    }
    if let Some(p) = on_path.get_mut(id) {
        *p = true;
    }
    frames.push(Frame {
        id,
        children: arena.get(id).children(),
        next: 0,
    });
    Ok(())
}

/// The value of a childless object, `None` for containers.
fn leaf(arena: &Arena, id: Id, record: &str) -> Result<Option<Value>, CheckpointError> {
    let unsupported = |what: &str| CheckpointError::UnsupportedFormat {
        detail: format!(
            "{record}: the unpickled value holds {what}, which tensorport cannot represent"
        ),
    };
    Ok(Some(match arena.get(id) {
        Obj::Leaf(v) => v.clone(),
        Obj::Global(Global::DType(d)) => Value::DType(*d),
        Obj::Global(g) => {
            return Err(unsupported(&format!(
                "the bare global {} (not called, so not a value)",
                g.python_name()
            )))
        }
        Obj::Storage(s) => {
            return Err(unsupported(&format!(
                "a bare storage (key {}) outside any tensor",
                s.key
            )))
        }
        _ => return Ok(None),
    }))
}

/// Builds one container from its frozen children (dict children come as key, value pairs, then
/// the attribute values); `ids` are the children's arena ids, which give keys their identity.
fn build(
    arena: &Arena,
    id: Id,
    ids: &[Id],
    vals: Vec<Value>,
    record: &str,
) -> Result<Value, CheckpointError> {
    let bad_key = |what: &str| CheckpointError::MalformedPickle {
        record: record.to_string(),
        offset: 0,
        opcode: None,
        detail: format!("unhashable {what} used as a dict key or set item"),
    };
    Ok(match arena.get(id) {
        Obj::List(_) => Value::List(Arc::from(vals)),
        Obj::Tuple { .. } => Value::Tuple(Arc::from(vals)),
        Obj::Set(_) => {
            let mut seen = HashSet::new();
            let mut items = Vec::with_capacity(vals.len());
            for (v, &i) in vals.into_iter().zip(ids) {
                let k = key_of(arena, i).ok_or_else(|| bad_key(v.type_name()))?;
                if seen.insert(k) {
                    items.push(v);
                }
            }
            Value::Set(Arc::from(items))
        }
        Obj::Dict { kind, items, attrs } => {
            // Capacity for the items the pickle built (charged to the budget already).
            let mut d = Dict::with_capacity(*kind, items.len());
            let mut it = vals.into_iter();
            for &(ki, _) in items {
                let (Some(k), Some(v)) = (it.next(), it.next()) else {
                    break;
                };
                let hk = key_of(arena, ki).ok_or_else(|| bad_key(k.type_name()))?;
                d.insert_hashed(k, hk, v);
            }
            for ((name, _), v) in attrs.iter().zip(it) {
                d.set_attr(name, v);
            }
            Value::Dict(Arc::new(d))
        }
        Obj::Leaf(v) => v.clone(),
        Obj::Global(_) | Obj::Storage(_) => Value::None,
    })
}

/// A key's identity as Python sees it: by value, except that objects compared by identity (NaN
/// floats, tensors) are the arena object itself, so the same memoized NaN twice is one key and
/// two NaN literals are two. Tuples compare element-wise with the same rule. Key tuples are at
/// most `max_depth` deep (freeze checked the tree), so the recursion is bounded.
fn key_of(arena: &Arena, id: Id) -> Option<HashKey> {
    match arena.get(id) {
        Obj::Leaf(Value::Float(f)) if f.is_nan() => Some(HashKey::Identity(id as u64)),
        Obj::Leaf(Value::Complex(re, im)) if re.is_nan() || im.is_nan() => {
            Some(HashKey::Identity(id as u64))
        }
        Obj::Leaf(Value::Tensor(_)) => Some(HashKey::Identity(id as u64)),
        Obj::Leaf(v) => v.hash_key(),
        Obj::Tuple { items, .. } => Some(HashKey::Tuple(
            items
                .iter()
                .map(|&i| key_of(arena, i))
                .collect::<Option<Vec<_>>>()?,
        )),
        Obj::Global(Global::DType(d)) => Some(HashKey::DType(*d)),
        _ => None,
    }
}
