//! BINPERSID: the persistent ids that name storages, resolved once per key through the
//! [`StorageResolver`](crate::checkpoint::pickle::StorageResolver) and cached, with their sizes
//! checked before anything is read or allocated.

use std::sync::Arc;

use super::arena::{Id, Obj, StorageRef};
use super::{Machine, R};
use crate::checkpoint::pickle::allowlist::Global;
use crate::checkpoint::pickle::StorageRequest;
use crate::checkpoint::value::Value;
use crate::dtype::DType;
use crate::error::CheckpointError;

/// The largest storage a persistent id may declare: the 48-bit virtual address space of 64-bit
/// machines. Larger sizes fit in a u64 but can never be mapped or allocated.
const MAX_STORAGE_BYTES: u64 = 1 << 48;

impl Machine<'_> {
    /// BINPERSID: `('storage', storage_class, key, location, numel[, view_metadata])`.
    pub(super) fn persistent_load(&mut self, pid: Id) -> R<Id> {
        // At most six items are read; copying them ends the borrow of the arena without an
        // allocation per storage.
        let mut ids = [0 as Id; 6];
        let Some(n_items) = self.arena.tuple_items(pid).map(|v| {
            for (d, s) in ids.iter_mut().zip(v) {
                *d = *s;
            }
            v.len()
        }) else {
            return Err(self.malformed(format!(
                "persistent id must be a tuple, not {}",
                self.arena.get(pid).type_name()
            )));
        };
        let items = &ids[..n_items.min(6)];
        let leaf = |i: usize| items.get(i).and_then(|&id| self.arena.leaf(id));
        if !matches!(leaf(0), Some(Value::Str(s)) if &**s == "storage") {
            return Err(self.malformed(
                "only ('storage', class, key, location, numel) persistent ids are allowed",
            ));
        }
        let legacy = self.resolver.legacy_ids();
        if n_items != 5 + usize::from(legacy) {
            return Err(self.malformed(if legacy {
                format!(
                    "a legacy persistent id has 6 items ('storage', class, root key, location, \
                     numel, view metadata), not {n_items}"
                )
            } else {
                format!(
                    "a zip checkpoint's persistent id has 5 items ('storage', class, key, \
                     location, numel), not {n_items} (torch refuses legacy view metadata here)"
                )
            }));
        }
        let dtype = match items.get(1).map(|&id| self.arena.get(id)) {
            Some(Obj::Global(Global::Storage(d))) => *d,
            _ => return Err(self.malformed("persistent id: item 1 must be a storage class")),
        };
        let key: Arc<str> = self.key_text(leaf(2), "key")?;
        let location = match leaf(3) {
            Some(Value::Str(s)) => s.clone(),
            _ => return Err(self.malformed("persistent id: location must be a string")),
        };
        let numel = self.u64_leaf(leaf(4), "numel")?;
        let view = match items.get(5).map(|&id| self.arena.get(id)) {
            None | Some(Obj::Leaf(Value::None)) => None,
            Some(Obj::Tuple { items: v, .. }) if v.len() == 3 => {
                let vk = self.key_text(self.arena.leaf(v[0]), "view key")?;
                let off = self.u64_leaf(self.arena.leaf(v[1]), "view offset")?;
                let size = self.u64_leaf(self.arena.leaf(v[2]), "view size")?;
                Some((vk, off, size))
            }
            Some(_) => return Err(self.malformed("persistent id: bad view metadata")),
        };
        let itemsize = dtype.map_or(1, DType::size) as u64;
        let record = self.record;
        // Only errors need the name.
        let what = || format!("{record}: storage {key}");
        let bytes_of = |n: u64| {
            n.checked_mul(itemsize)
                .filter(|&b| b <= MAX_STORAGE_BYTES)
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| CheckpointError::SizeOverflow {
                    what: what(),
                    detail: format!(
                        "{n} elements of {itemsize} bytes exceed the {MAX_STORAGE_BYTES}-byte address space"
                    ),
                })
        };
        let mut nbytes = bytes_of(numel)?;
        if let Some((_, off, size)) = &view {
            if off.checked_add(*size).is_none_or(|end| end > numel) {
                return Err(CheckpointError::StorageBounds {
                    tensor: what(),
                    detail: format!("view at {off} of {size} elements past a storage of {numel}"),
                });
            }
            nbytes = bytes_of(*size)?;
        }
        let cache_key = view.as_ref().map_or(key.clone(), |(vk, _, _)| vk.clone());
        let storage = match self.storages.get(&*cache_key) {
            // torch serves the cached storage whatever this id declares: another size is
            // ignored, another dtype reinterprets the same bytes (torch refuses to *save* such
            // a file, but loads it), so the same is done here.
            Some(prev) => {
                let sref = StorageRef {
                    storage: prev.storage.clone(),
                    dtype,
                    key,
                };
                return self.alloc(Obj::Storage(sref));
            }
            None => {
                let req = StorageRequest {
                    key: &key,
                    dtype,
                    location: &location,
                    numel,
                    view: view.as_ref().map(|(vk, o, s)| (&**vk, *o, *s)),
                };
                let storage = self.resolver.resolve(&req)?;
                if storage.nbytes() != nbytes {
                    return Err(CheckpointError::StorageBounds {
                        tensor: what(),
                        detail: format!(
                            "the record holds {} bytes, the pickle declares {nbytes}",
                            storage.nbytes()
                        ),
                    });
                }
                storage
            }
        };
        let sref = StorageRef {
            storage,
            dtype,
            key,
        };
        self.storages.insert(cache_key, sref.clone());
        self.alloc(Obj::Storage(sref))
    }

    fn key_text(&self, v: Option<&Value>, what: &str) -> R<Arc<str>> {
        match v {
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(Value::Int(i)) => Ok(Arc::from(i.to_string())),
            _ => Err(self.malformed(format!("persistent id: {what} must be a str or int"))),
        }
    }
}
