//! The model-file loader, whole files and well-signed hostile weights: see
//! mer::fuzzing::model_file.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mer::fuzzing::model_file(data));
