//! Every input kept from fuzzing (`scripts/fuzz.sh` copies what crashed, hung or ran out of
//! memory to `tests/fuzz-regressions/<target>/`), replayed through the same functions the
//! fuzz targets call. Each must return, not panic. The fixtures are replayed too, with
//! every hint byte, so that the targets' own paths stay exercised on stable.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The kept inputs of one target (none yet is fine: the folder holds only what failed).
fn kept(target: &str) -> Vec<PathBuf> {
    let dir = root().join("tests/fuzz-regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn audio_inputs_kept_from_fuzzing() {
    for f in kept("audio") {
        println!("{}", f.display());
        mer::fuzzing::audio(&std::fs::read(&f).unwrap());
    }
    for name in [
        "music.wav",
        "music.mp3",
        "music.flac",
        "music.ogg",
        "short.wav",
    ] {
        let bytes = std::fs::read(root().join("tests/fixtures").join(name)).unwrap();
        for hint in 0..6u8 {
            // Whole, and cut in the middle of a frame.
            for len in [bytes.len(), bytes.len() / 3 + 7] {
                let mut input = vec![hint];
                input.extend_from_slice(&bytes[..len]);
                mer::fuzzing::audio(&input);
            }
        }
    }
}

#[test]
fn model_file_inputs_kept_from_fuzzing() {
    for f in kept("model_file") {
        println!("{}", f.display());
        mer::fuzzing::model_file(&std::fs::read(&f).unwrap());
    }
}
