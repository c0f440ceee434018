//! conv2d and linear: placeholder, filled in below.
