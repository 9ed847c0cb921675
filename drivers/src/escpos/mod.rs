//! ESC/POS: what the receipt printer speaks.

pub mod parse;
