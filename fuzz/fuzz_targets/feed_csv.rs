//! Fuzz target: see `irp_pipeline::fuzzing::csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| irp_pipeline::fuzzing::csv(data));
