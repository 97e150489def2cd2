//! Install.
