//! The objects the machine builds while it runs. Containers hold arena ids, not values, so a memo
//! entry fetched twice is one object, and mutating a memoized dict is seen through every
//! reference. Dropping the arena is a flat `Vec` drop: nothing walks the object graph.

use std::sync::Arc;

use crate::checkpoint::pickle::allowlist::Global;
use crate::checkpoint::value::{DictKind, Value};
use crate::dtype::DType;
use crate::storage::Storage;

/// Index of an object in the arena.
pub(super) type Id = usize;

/// A tuple's items, inline up to six: torch writes four small tuples per tensor (the persistent
/// id, size, stride and the rebuild arguments), which would otherwise be four allocations.
pub(super) type Items = smallvec::SmallVec<[Id; 6]>;

/// Largest expanded size of a tuple used as a dict key or set item (keys are hashed by value, so
/// a shared tuple DAG would be walked in full).
pub(super) const MAX_KEY_NODES: u64 = 1 << 16;

/// A storage named by a persistent id.
#[derive(Clone)]
pub(super) struct StorageRef {
    pub storage: Storage,
    /// The storage class's dtype, or `None` for `UntypedStorage`.
    pub dtype: Option<DType>,
    pub key: Arc<str>,
}

/// One object under construction.
pub(super) enum Obj {
    /// An immutable value without arena children (numbers, strings, tensors, dtypes, ...).
    Leaf(Value),
    List(Vec<Id>),
    /// `key_nodes`: the expanded node count when every item is hashable, else `None`.
    Tuple {
        items: Items,
        key_nodes: Option<u64>,
    },
    Set(Vec<Id>),
    Dict {
        kind: DictKind,
        items: Vec<(Id, Id)>,
        attrs: Vec<(Arc<str>, Id)>,
    },
    Global(Global),
    Storage(StorageRef),
}

impl Obj {
    /// The Python type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Obj::Leaf(v) => v.type_name(),
            Obj::List(_) => "list",
            Obj::Tuple { .. } => "tuple",
            Obj::Set(_) => "set",
            Obj::Dict { kind, .. } => match kind {
                DictKind::Dict => "dict",
                DictKind::OrderedDict => "OrderedDict",
                DictKind::Counter => "Counter",
            },
            Obj::Global(_) => "global",
            Obj::Storage(_) => "storage",
        }
    }

    /// Children in order (dict items as key, value).
    pub fn children(&self) -> Vec<Id> {
        match self {
            Obj::Leaf(_) | Obj::Global(_) | Obj::Storage(_) => Vec::new(),
            Obj::List(v) | Obj::Set(v) => v.clone(),
            Obj::Tuple { items, .. } => items.to_vec(),
            Obj::Dict { items, attrs, .. } => items
                .iter()
                .flat_map(|&(k, v)| [k, v])
                .chain(attrs.iter().map(|(_, v)| *v))
                .collect(),
        }
    }
}

/// The arena, counting objects against a cap.
pub(super) struct Arena {
    objs: Vec<Obj>,
}

impl Arena {
    pub fn new() -> Arena {
        Arena { objs: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.objs.len()
    }

    pub fn push(&mut self, obj: Obj) -> Id {
        self.objs.push(obj);
        self.objs.len() - 1
    }

    /// The object `id` names. Ids only come from `push`, so the fallback is never taken.
    pub fn get(&self, id: Id) -> &Obj {
        const NONE: Obj = Obj::Leaf(Value::None);
        self.objs.get(id).unwrap_or(&NONE)
    }

    pub fn get_mut(&mut self, id: Id) -> Option<&mut Obj> {
        self.objs.get_mut(id)
    }

    pub fn leaf(&self, id: Id) -> Option<&Value> {
        match self.get(id) {
            Obj::Leaf(v) => Some(v),
            _ => None,
        }
    }

    /// The expanded size of `id` as a dict key or set item, or `None` when Python could not hash it.
    pub fn key_nodes(&self, id: Id) -> Option<u64> {
        match self.get(id) {
            Obj::Leaf(v) => v.hash_key().map(|_| 1),
            Obj::Tuple { key_nodes, .. } => *key_nodes,
            Obj::Global(crate::checkpoint::pickle::allowlist::Global::DType(_)) => Some(1),
            _ => None,
        }
    }

    /// Makes a tuple, computing its key size from its (already built) items without recursion.
    pub fn tuple(&mut self, items: Items) -> Id {
        let key_nodes = items.iter().try_fold(1u64, |acc, &i| {
            Some(acc.saturating_add(self.key_nodes(i)?).min(u64::MAX / 2))
        });
        self.push(Obj::Tuple { items, key_nodes })
    }

    /// Items of a tuple, or `None`.
    pub fn tuple_items(&self, id: Id) -> Option<&[Id]> {
        match self.get(id) {
            Obj::Tuple { items, .. } => Some(items),
            _ => None,
        }
    }
}
