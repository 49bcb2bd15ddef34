//! The feature recipe against reference arrays made by librosa
//! (`tests/fixtures/make_fixtures.py`; the test itself needs no Python).

use std::path::PathBuf;

use mer::FeatureExtractor;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn load_npy(name: &str) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// Samples exactly as stored (float WAV at 16 kHz), peak-normalised as the recipe says.
fn load_input(name: &str) -> Vec<f32> {
    let bytes = std::fs::read(fixture(&format!("{name}.wav"))).unwrap();
    let audio = mer::audio::decode(&bytes, Some("wav")).unwrap();
    assert_eq!(audio.sample_rate, 16_000);
    mer::audio::prepare(&audio, 16_000).unwrap()
}

/// Largest |difference| where librosa's value is >= -7, and over all entries.
fn max_diffs(ours: &[f32], reference: &[f32]) -> (f32, f32) {
    assert_eq!(ours.len(), reference.len());
    let mut loud = 0f32;
    let mut all = 0f32;
    for (a, b) in ours.iter().zip(reference) {
        let d = (a - b).abs();
        all = all.max(d);
        if *b >= -7.0 {
            loud = loud.max(d);
        }
    }
    (loud, all)
}

fn check(name: &str) {
    let fx = FeatureExtractor::default();
    let samples = load_input(name);
    let mel = fx.log_mel(&samples);
    let (shape, reference) = load_npy(&format!("{name}_logmel.npy"));
    assert_eq!(
        shape,
        vec![128, mel.n_frames as u64],
        "{name}: log-mel shape"
    );
    let (loud, all) = max_diffs(&mel.data, &reference);
    println!(
        "{name}: {} frames, max |diff| {loud:.2e} where L >= -7, {all:.2e} overall",
        mel.n_frames
    );
    assert!(
        loud <= 1e-3,
        "{name}: log-mel differs from librosa by {loud}"
    );
    assert!(
        all <= 1e-3,
        "{name}: log-mel differs from librosa by {all} in quiet bins"
    );

    let patches = fx.patches(&samples);
    let (pshape, preference) = load_npy(&format!("{name}_patches.npy"));
    assert_eq!(
        pshape,
        patches
            .shape()
            .iter()
            .map(|&x| x as u64)
            .collect::<Vec<_>>(),
        "{name}: patch shape"
    );
    let (loud, _) = max_diffs(&patches.data, &preference);
    assert!(
        loud <= 1e-3,
        "{name}: patches differ from librosa by {loud}"
    );
}

#[test]
fn chirp_matches_librosa() {
    check("chirp");
}

#[test]
fn noise_matches_librosa() {
    check("noise");
}

#[test]
fn music_matches_librosa() {
    check("music");
}

#[test]
fn clip_shorter_than_a_patch_matches_librosa() {
    check("short");
}
