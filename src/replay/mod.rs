//! The daemon's clients: what feeds a broker and what runs a broker, not parts of the
//! daemon itself. `flatline publish` replays dumps through [`publisher`]; `flatline demo`
//! runs [`broker`] (embedded rumqttd), a simulated fleet through [`publisher`] and the real
//! daemon pipeline in one process ([`demo`]).
//!
//! # Layout
//! - [`publisher`]: replaying readings into a broker, counting acknowledgements.
//! - [`broker`]: the embedded rumqttd broker for the demo.
//! - [`demo`]: the demo run.

#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod demo;
pub mod publisher;
