//! (daemon: not yet written)
