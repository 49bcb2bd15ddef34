//! The music-set loaders (CSV, DEAM, PMEmo, emoMusic): see trainer::fuzzing::music_set.
#![no_main]
use std::sync::OnceLock;

static SCRATCH: OnceLock<tempfile::TempDir> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = SCRATCH.get_or_init(|| tempfile::tempdir().expect("a scratch folder"));
    trainer::fuzzing::music_set(data, &dir.path().join("set"));
});
