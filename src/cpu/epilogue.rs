//! What a kernel applies to its output as it stores it, while the values are still in cache:
//! `y = act(y + residual)`, the residual being another tensor of the output's shape (ResNet's
//! skip connection) and `act` relu or one of the activations.
//!
//! The formulas are the standalone ops' (`relu1`, `activation_in_place`, IEEE `+`), in the same
//! order as the unfused graph runs them (the convolution's bias first, then the addition, then
//! the activation), so fusing never changes a bit of the result.

use super::activation::activation_in_place;
use super::scalar::relu_slice;
use super::Float;
use crate::ops::activation::Activation;

/// The activation of an epilogue.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Act {
    /// `x < 0 ? 0 : x`.
    Relu,
    /// One of the other activations.
    Other(Activation),
}

/// `act(y + residual)` for the elements of one output (or a piece of it: [`Post::piece`]).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Post<'a, T> {
    /// Added to the output, element for element (same shape, contiguous).
    pub residual: Option<&'a [T]>,
    /// Applied last.
    pub act: Option<Act>,
}

impl<'a, T: Float> Post<'a, T> {
    /// Nothing to apply.
    pub(crate) fn none() -> Self {
        Post {
            residual: None,
            act: None,
        }
    }

    /// Just relu: the one epilogue the kernels apply inside their store loops.
    pub(crate) fn is_plain_relu(&self) -> bool {
        self.residual.is_none() && self.act == Some(Act::Relu)
    }

    /// The epilogue of output elements `start .. start + len`.
    pub(crate) fn piece(&self, start: usize, len: usize) -> Post<'a, T> {
        Post {
            residual: self.residual.map(|r| &r[start..][..len]),
            act: self.act,
        }
    }

    /// Applies the epilogue to `y`, the elements this epilogue (or piece) covers.
    pub(crate) fn apply(&self, y: &mut [T]) {
        if let Some(r) = self.residual {
            for (v, &r) in y.iter_mut().zip(r) {
                *v += r;
            }
        }
        match self.act {
            None => {}
            Some(Act::Relu) => relu_slice(y),
            Some(Act::Other(a)) => activation_in_place(a, y),
        }
    }

    /// The same epilogue over f32 (`T` is f32), for the hand-vectorised f32 kernels.
    pub(crate) fn as_f32(&self) -> Option<Post<'a, f32>> {
        let residual = match self.residual {
            Some(r) => Some(super::as_f32(r)?),
            None => None,
        };
        Some(Post {
            residual,
            act: self.act,
        })
    }
}
