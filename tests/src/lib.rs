//! Shared helpers for icn cross-crate tests.
