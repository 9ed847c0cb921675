//! Scanner line framing: `scanner::{Framer::push, Framer::check_stale,
//! classify}`. Checks: `kiosk_drivers_fuzz::scanner_framing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kiosk_drivers_fuzz::scanner_framing(data);
});
