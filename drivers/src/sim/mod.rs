//! Device simulators that speak the real protocols over real links (TCP,
//! pseudo-terminals), for the demo and for tests: the kiosk's drivers talk to
//! them exactly as to the hardware.

pub mod idcard;
pub mod printer;
pub mod pty;
pub mod scanner;
