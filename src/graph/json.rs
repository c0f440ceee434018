//! Checked reads from the archive's JSON: every access names where it looked, so a malformed
//! program gets an error like `model.json: graph.nodes[3].inputs[1].arg: expected an object`.

use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};

/// A JSON value with the path it was found at.
#[derive(Clone, Copy)]
pub(crate) struct At<'a, 'p> {
    pub(crate) v: &'a Json,
    pub(crate) path: &'p str,
}

/// The error for `path`.
pub(crate) fn bad(path: &str, reason: impl Into<String>) -> Error {
    Error::Program {
        at: path.to_string(),
        reason: reason.into(),
    }
}

impl<'a, 'p> At<'a, 'p> {
    pub(crate) fn new(v: &'a Json, path: &'p str) -> At<'a, 'p> {
        At { v, path }
    }

    pub(crate) fn obj(&self) -> Result<&'a Map<String, Json>> {
        self.v.as_object().ok_or_else(|| {
            bad(
                self.path,
                format!("expected an object, found {}", kind(self.v)),
            )
        })
    }

    /// Field `key` (required), and its path.
    pub(crate) fn field(&self, key: &str) -> Result<(&'a Json, String)> {
        let path = format!("{}.{key}", self.path);
        match self.obj()?.get(key) {
            Some(v) => Ok((v, path)),
            None => Err(bad(&path, "missing")),
        }
    }

    /// Field `key`, or `None` when absent or null.
    pub(crate) fn opt(&self, key: &str) -> Result<Option<(&'a Json, String)>> {
        let path = format!("{}.{key}", self.path);
        Ok(self
            .obj()?
            .get(key)
            .filter(|v| !v.is_null())
            .map(|v| (v, path)))
    }

    pub(crate) fn arr(&self) -> Result<&'a [Json]> {
        self.v.as_array().map(Vec::as_slice).ok_or_else(|| {
            bad(
                self.path,
                format!("expected an array, found {}", kind(self.v)),
            )
        })
    }

    pub(crate) fn str(&self) -> Result<&'a str> {
        self.v.as_str().ok_or_else(|| {
            bad(
                self.path,
                format!("expected a string, found {}", kind(self.v)),
            )
        })
    }

    pub(crate) fn i64(&self) -> Result<i64> {
        self.v.as_i64().ok_or_else(|| {
            bad(
                self.path,
                format!("expected an integer, found {}", kind(self.v)),
            )
        })
    }

    pub(crate) fn f64(&self) -> Result<f64> {
        self.v.as_f64().ok_or_else(|| {
            bad(
                self.path,
                format!("expected a number, found {}", kind(self.v)),
            )
        })
    }

    pub(crate) fn bool(&self) -> Result<bool> {
        self.v.as_bool().ok_or_else(|| {
            bad(
                self.path,
                format!("expected a boolean, found {}", kind(self.v)),
            )
        })
    }

    /// The single key of a union object (`{"as_tensor": ...}`), with its value.
    pub(crate) fn union(&self) -> Result<(&'a str, &'a Json)> {
        let o = self.obj()?;
        let mut it = o.iter().filter(|(_, v)| !v.is_null());
        match (it.next(), it.next()) {
            (Some((k, v)), None) => Ok((k.as_str(), v)),
            _ => Err(bad(
                self.path,
                format!(
                    "expected an object with exactly one non-null field, found {} fields",
                    o.len()
                ),
            )),
        }
    }
}

/// What kind of JSON value `v` is, for messages.
pub(crate) fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
