//! # canopy-sim
//!
//! The deterministic simulator: engines joined by simulated links, a
//! virtual clock that jumps from event to event, and one master seed.
//! This crate grows with the simulator issue; today it holds the virtual
//! clock and event queue every world is built on.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
