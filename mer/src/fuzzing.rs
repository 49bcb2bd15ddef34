//! What the fuzz targets (`fuzz/`) feed arbitrary bytes to, and the stable regression tests
//! replay (`mer/tests/fuzz_regressions.rs`): one definition of each, so a crash found by
//! fuzzing is reproduced by `cargo test`. Each returns normally on any input; a panic, a
//! hang or an unbounded allocation is the bug.

use burn::prelude::*;

use crate::inference::load_classifier;
use crate::model_file::{ModelFile, ModelMeta, Precision, Variant};

/// Audio decoding: byte 0 chooses the extension hint, the rest is the file; what decodes
/// is then mixed down, resampled to 16 kHz and normalised.
#[cfg(feature = "decode")]
pub fn audio(data: &[u8]) {
    const HINTS: [Option<&str>; 6] = [
        None,
        Some("wav"),
        Some("mp3"),
        Some("flac"),
        Some("ogg"),
        Some("m4a"),
    ];
    let Some((&hint, file)) = data.split_first() else {
        return;
    };
    if let Ok(audio) = crate::audio::decode(file, HINTS[usize::from(hint) % HINTS.len()]) {
        let _ = crate::audio::prepare(&audio, 16_000);
    }
}

/// The model-file loader, twice: the bytes as a whole file (header, metadata, checksum),
/// and as the weights of a well-signed file of the precision byte 0 chooses (what a
/// hostile file whose checksum was recomputed reaches).
pub fn model_file(data: &[u8]) {
    let cpu = Device::flex();
    if let Ok(file) = ModelFile::from_bytes(data) {
        let _ = load_classifier(&file, &cpu);
    }
    let Some((&p, weights)) = data.split_first() else {
        return;
    };
    let precision = [
        Precision::F32,
        Precision::F16,
        Precision::Int8,
        Precision::Q4,
    ][usize::from(p) % 4];
    let file = ModelFile {
        meta: ModelMeta::new(Variant::untrained(), precision, "fuzz"),
        weights: weights.to_vec(),
    };
    if let Ok(file) = ModelFile::from_bytes(&file.to_bytes()) {
        let _ = load_classifier(&file, &cpu);
    }
}
