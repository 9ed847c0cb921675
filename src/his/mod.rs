//! The HIS port: the protocol's wire types and operation table, the
//! `HisGateway` trait, its HTTP client, and the HIS simulator.

pub mod ops;
pub mod sim;
pub mod wire;
