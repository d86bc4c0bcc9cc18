//! (ingest: not yet written)
