//! Audio decoding through mer::audio (WAV, MP3, FLAC, OGG, MP4): see mer::fuzzing::audio.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mer::fuzzing::audio(data));
