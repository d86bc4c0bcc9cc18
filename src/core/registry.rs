//! Registry (in progress).
