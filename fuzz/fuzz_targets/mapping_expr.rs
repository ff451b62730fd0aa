//! Fuzz target: see `irp_core::fuzzing::mapping_expr`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| irp_core::fuzzing::mapping_expr(data));
