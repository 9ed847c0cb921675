//! The HIS simulator (being written).
