#![no_main]
//! Fuzz target `sit_decap`: arbitrary bytes (byte 0 a mode, see
//! `sixgate_testkit::fuzz::sit`) into the 6in4 endpoint, outer (decapsulation, ICMPv4) or
//! inner (encapsulation) side, with the output checked.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::sit::sit_decap(data);
});
