//! ID card SAM serial frames: `idcard::frame::{decode, decode_exact,
//! parse_response, parse_base_info}`. Checks: `kiosk_drivers_fuzz::sam_frame`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Strict: on `Preamble` the reader drops its buffer, as idcard::reader does.
    kiosk_drivers_fuzz::sam_frame(data, true);
});
