//! Fuzz target: see `irp_core::fuzzing::shipment`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| irp_core::fuzzing::shipment(data));
