//! The models the page ships with (models/*.mer): every file decodes into the classifier,
//! predicts on a real song, carries its test scores and its schedule, and models/index.json
//! lists exactly these files with one of them as the default. What they must hear in real
//! music: trainer/tests/real_clips.rs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use mer::inference::{load_classifier, predict_patches};
use mer::model_file::{Method, Precision, TransferMode};
use mer::{FeatureExtractor, ModelFile, Quadrant, SongPrediction};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn shipped() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .expect("models/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mer"))
        .collect();
    files.sort();
    files
}

/// The committed music excerpt, decoded from MP3 as a visitor's song would be.
fn song_patches() -> mer::Patches {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/music.mp3");
    let audio = mer::audio::decode(&std::fs::read(path).unwrap(), Some("mp3")).unwrap();
    let samples = mer::audio::prepare(&audio, 16_000).unwrap();
    FeatureExtractor::default().patches(&samples)
}

/// At most six files (one per encoder: SCAE or CPC x eng, man, mix), 40 MB in all, each
/// named after its variant, trained on the rendered sets and the real game music, and
/// recording the whole schedule that made it.
#[test]
fn one_classifier_per_encoder_ships() {
    let files = shipped();
    assert!(
        (1..=6).contains(&files.len()),
        "{} model files in models/",
        files.len()
    );
    let mut total = 0;
    let mut encoders = BTreeSet::new();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        total += bytes.len();
        let file =
            ModelFile::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v = &file.meta.variant;
        assert_eq!(
            v.music,
            ["western", "chinese", "games"],
            "{}: trained on the rendered sets and the real game music",
            path.display()
        );
        let mode = match v.mode {
            TransferMode::FeatExt => "featext",
            TransferMode::Full => "full",
        };
        let name = format!(
            "{}-{}-{mode}.mer",
            v.method.label().to_lowercase(),
            v.language_label()
        );
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            name,
            "the file name says the variant"
        );
        assert!(
            [Method::Scae, Method::Cpc].contains(&v.method),
            "{}",
            path.display()
        );
        assert!(
            encoders.insert((v.method.label(), v.language_label())),
            "{}: a second classifier of the same encoder",
            path.display()
        );
        // The schedule: the encoder's pretraining and each transfer phase, with the
        // phase whose weights were exported; the exported phase agrees with the mode.
        let schedule = &file.meta.training["schedule"];
        for phase in ["pretraining", "feat_ext"] {
            assert!(
                schedule[phase]["epochs_run"]
                    .as_u64()
                    .is_some_and(|e| e >= 1)
                    && schedule[phase]["optimizer_steps"]
                        .as_u64()
                        .is_some_and(|s| s >= 1),
                "{}: no {phase} record",
                path.display()
            );
        }
        let exported = schedule["exported_phase"].as_str();
        match v.mode {
            TransferMode::Full => {
                assert_eq!(exported, Some("full"), "{}", path.display());
                assert!(
                    schedule["full"]["best_epoch"]
                        .as_u64()
                        .is_some_and(|e| e >= 1)
                );
            }
            TransferMode::FeatExt => {
                assert_eq!(exported, Some("feat-ext"), "{}", path.display())
            }
        }
    }
    assert!(total <= 40_000_000, "models/ holds {total} bytes");
}

#[test]
fn every_shipped_model_loads_and_predicts() {
    let files = shipped();
    assert!(!files.is_empty(), "models/ holds no .mer file");
    let device = Device::flex();
    let patches = song_patches();
    assert!(patches.n >= 5, "{} patches", patches.n);
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        // 4-bit weights: the size of Essentia.js's MusiCNN models at most.
        assert!(
            bytes.len() <= 3_200_000,
            "{}: {} bytes",
            path.display(),
            bytes.len()
        );
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(file.meta.precision, Precision::Q4);
        let test = &file.meta.metrics["test"];
        for level in ["patch", "song"] {
            let f1 = test[level]["quadrant"]["f1_weighted"].as_f64();
            assert!(
                f1.is_some_and(|f| (0.0..=1.0).contains(&f)),
                "{}: no {level} test score",
                path.display()
            );
        }
        let model = load_classifier(&file, &device).unwrap();
        let probs =
            pollster::block_on(predict_patches(&model, &patches, &device, 8, |_, _| {})).unwrap();
        assert_eq!(probs.len(), patches.n);
        for p in &probs {
            let sum: f32 = p.quadrant.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{}: sum {sum}", path.display());
            for x in p.quadrant.iter().chain(&p.arousal).chain(&p.valence) {
                assert!(x.is_finite() && (0.0..=1.0).contains(x));
            }
        }
        let song = SongPrediction::from_patches(&file.meta.recipe, &probs).unwrap();
        assert!(Quadrant::ALL.contains(&song.quadrant));
        println!(
            "{}: {} on the excerpt, P = {:?}",
            path.file_name().unwrap().to_string_lossy(),
            song.quadrant.name(),
            song.probabilities
        );
    }
}

#[test]
fn the_index_lists_exactly_the_shipped_files() {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models_dir().join("index.json")).unwrap()).unwrap();
    let listed: BTreeSet<String> = index["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["file"].as_str().unwrap().to_string();
            let bytes = std::fs::read(models_dir().join(&name)).unwrap();
            assert_eq!(m["size"].as_u64(), Some(bytes.len() as u64), "{name}");
            let file = ModelFile::from_bytes(&bytes).unwrap();
            assert_eq!(
                m["meta"],
                serde_json::to_value(&file.meta).unwrap(),
                "{name}: index.json is stale (run `trainer index models`)"
            );
            name
        })
        .collect();
    let on_disk: BTreeSet<String> = shipped()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, on_disk);
    let default = index["default"]
        .as_str()
        .expect("index.json names a default");
    assert!(
        on_disk.contains(default),
        "the default {default} is not shipped"
    );
}
