//! The zip container torch.save writes, read and written by hand: reading needs the absolute
//! offset of every stored record so it can be mapped without a copy, and writing needs torch's
//! 64-byte record alignment (the `FB` extra field), neither of which the `zip` crate exposes.

#[cfg(test)]
pub(crate) mod alloc_count;
mod inflate;
pub mod read;
mod record;
pub mod write;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;
