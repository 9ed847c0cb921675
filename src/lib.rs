//! The hospital outpatient self-service kiosk: library half of the `kiosk`
//! binary. See ARCHITECTURE.md for the map and the invariants.

pub mod app;
pub mod config;
pub mod devices;
pub mod doctor;
pub mod domain;
#[cfg(feature = "failpoints")]
pub mod drill;
pub mod heartbeat;
pub mod his;
pub mod logging;
pub mod maint;
pub mod metrics;
pub mod paper;
pub mod pay;
pub mod print;
pub mod reports;
pub mod sdnotify;
pub mod signing;
pub mod sim_faults;
pub mod status;
pub mod txn;
pub mod ui;
