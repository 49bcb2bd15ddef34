//! The models the page ships with (models/*.mer): every file decodes into the classifier,
//! predicts on a real song, carries its test scores, and models/index.json lists exactly
//! these files.

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

/// The twelve variants of the paper's grid (SCAE or CPC x eng, man, mix x Feat. Ext.,
/// Full) ship, each once, named after their variant, trained on both demo music sets.
#[test]
fn the_twelve_variants_of_the_grid_ship() {
    let mut grid = BTreeSet::new();
    for method in [Method::Scae.label(), Method::Cpc.label()] {
        for lang in ["eng", "man", "mix"] {
            for mode in ["featext", "full"] {
                grid.insert((method, lang.to_string(), mode));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for path in shipped() {
        let file = ModelFile::from_bytes(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v = &file.meta.variant;
        assert_eq!(
            v.music,
            ["western", "chinese"],
            "{}: trained on both demo music sets",
            path.display()
        );
        let mode = match v.mode {
            TransferMode::FeatExt => "featext",
            TransferMode::Full => "full",
        };
        let key = (v.method.label(), v.language_label(), mode);
        let name = format!("{}-{}-{}.mer", key.0.to_lowercase(), key.1, key.2);
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            name,
            "the file name says the variant"
        );
        assert!(
            grid.contains(&key),
            "{}: {key:?} is not in the grid",
            path.display()
        );
        assert!(
            seen.insert(key),
            "{}: a second file of the same variant",
            path.display()
        );
    }
    let missing: Vec<_> = grid.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "variants missing from models/: {missing:?}"
    );
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
        assert!(
            bytes.len() <= 8_000_000,
            "{}: {} bytes",
            path.display(),
            bytes.len()
        );
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(file.meta.precision, Precision::Int8);
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
}
