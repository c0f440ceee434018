//! (in progress)
use crate::checkpoint::value::Value;
use crate::error::Result;
use crate::tensor::Tensor;

/// An ordered name → tensor map.
pub struct StateDict {
    entries: Vec<(String, Tensor)>,
}

impl StateDict {
    pub fn from_value(_v: &Value) -> Result<StateDict> {
        Ok(StateDict { entries: vec![] })
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn to_value(&self) -> Value {
        Value::None
    }
}
