//! Features (in progress).
