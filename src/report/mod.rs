//! (report: not yet written)
