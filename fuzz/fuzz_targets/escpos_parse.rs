//! ESC/POS jobs: `escpos::parse::parse` and the `Doc` → ESC/POS → parse round
//! trip. Checks: `kiosk_drivers_fuzz::escpos_parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kiosk_drivers_fuzz::escpos_parse(data);
});
