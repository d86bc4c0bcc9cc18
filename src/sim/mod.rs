//! (sim: not yet written)
