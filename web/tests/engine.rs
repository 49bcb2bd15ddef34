//! The worker's pipeline, natively: the same code as in the browser, on burn's CPU backend
//! and on burn-wgpu (Mesa's lavapipe without a GPU), checked against `mer` used directly
//! (what `trainer predict` does).
#![cfg(not(target_arch = "wasm32"))]

use burn::prelude::*;
use mer::model_file::{Precision, Variant};
use mer::{FeatureExtractor, ModelFile, ModelMeta, SongPrediction};
use mer_web::pipeline::{self, Song};

fn model_file(seed: u64) -> Vec<u8> {
    let cpu = Device::flex();
    cpu.seed(seed);
    let classifier = mer::model::Classifier::new(&cpu);
    let weights = mer::inference::encode_weights(&classifier, Precision::Int8).unwrap();
    ModelFile {
        meta: ModelMeta::new(Variant::untrained(), Precision::Int8, "web test"),
        weights,
    }
    .to_bytes()
}

fn fixture(name: &str) -> mer::audio::Audio {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    mer::audio::decode(&bytes, name.rsplit('.').next()).unwrap()
}

fn run(song: &Song, file: &ModelFile, device: &Device, batch: usize) -> SongPrediction {
    let fx = FeatureExtractor::default();
    let model = mer::inference::load_classifier(file, device).unwrap();
    pollster::block_on(pipeline::classify(&fx, &model, song, device, batch)).unwrap()
}

/// What `trainer predict` computes: the whole song's patches through `mer` directly.
fn reference(audio: &mer::audio::Audio, file: &ModelFile) -> SongPrediction {
    let fx = FeatureExtractor::default();
    let cpu = Device::flex();
    let samples = mer::audio::prepare(audio, 16_000).unwrap();
    let patches = fx.patches(&samples);
    let model = mer::inference::load_classifier(file, &cpu).unwrap();
    let probs = pollster::block_on(mer::inference::predict_patches(
        &model,
        &patches,
        &cpu,
        mer::inference::DEFAULT_BATCH,
        |_, _| {},
    ))
    .unwrap();
    SongPrediction::from_patches(fx.recipe(), &probs).unwrap()
}

fn max_diff(a: &SongPrediction, b: &SongPrediction) -> f32 {
    let mut d = (a.arousal - b.arousal)
        .abs()
        .max((a.valence - b.valence).abs());
    for (x, y) in a.probabilities.iter().zip(&b.probabilities) {
        d = d.max((x - y).abs());
    }
    for (s, t) in a.segments.iter().zip(&b.segments) {
        for (x, y) in s.probabilities.iter().zip(&t.probabilities) {
            d = d.max((x - y).abs());
        }
    }
    d
}

#[test]
fn cpu_path_equals_mer_directly() {
    let audio = fixture("music.wav");
    let file = pipeline::check_model(&model_file(7)).unwrap();
    let want = reference(&audio, &file);
    let song = pipeline::prepare_song(&FeatureExtractor::default(), audio).unwrap();
    assert_eq!(song.patches, 9);
    // the spectrogram handed to another worker gives the same song
    let copy =
        Song::from_mel(&FeatureExtractor::default(), song.mel.clone(), song.seconds).unwrap();
    assert_eq!(copy.patches, song.patches);
    for batch in [4, 32, 64] {
        let got = run(&song, &file, &Device::flex(), batch);
        assert_eq!(got.quadrant, want.quadrant);
        assert_eq!(got.segments.len(), want.segments.len());
        let d = max_diff(&got, &want);
        assert!(d < 1e-5, "batch {batch}: {d}");
    }
}

#[test]
fn damaged_model_files_are_refused() {
    let mut bytes = model_file(3);
    let n = bytes.len();
    bytes[n - 1000] ^= 0x40;
    assert!(
        pipeline::check_model(&bytes)
            .unwrap_err()
            .contains("checksum")
    );
    assert!(
        pipeline::check_model(b"<html>not found</html>")
            .unwrap_err()
            .contains("not a mer model file")
    );
}

/// The WebGPU path's code on burn-wgpu natively (Vulkan; lavapipe on a machine without a
/// GPU): same answer as the CPU.
#[test]
fn wgpu_path_matches_cpu() {
    let device = Device::wgpu_options()
        .device_kind(DeviceKind::DefaultDevice)
        .init()
        .expect("no wgpu adapter: install Mesa's Vulkan drivers (mesa-vulkan-drivers)");
    let audio = fixture("music.wav");
    let file = pipeline::check_model(&model_file(11)).unwrap();
    let song = pipeline::prepare_song(&FeatureExtractor::default(), audio).unwrap();
    let cpu = run(&song, &file, &Device::flex(), 64);
    let gpu = run(&song, &file, &device, 64);
    assert_eq!(gpu.quadrant, cpu.quadrant);
    let d = max_diff(&gpu, &cpu);
    eprintln!("wgpu vs cpu: max |diff| {d:e}");
    assert!(d < 1e-3, "wgpu and cpu differ by {d}");
}
