//! ESC/POS: what the receipt printer speaks.

pub mod doc;
pub mod parse;
