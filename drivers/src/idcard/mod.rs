//! 2nd-generation resident ID card reader (SAM module on a serial line).

pub mod frame;
pub mod reader;
