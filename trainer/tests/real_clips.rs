//! What the shipped models must hear in real recorded music: on the committed clips of a
//! held-out game (tests/real-clips/, 0 A.D.'s battle and peace music, labelled by the
//! game's own data; see its README), the page's default model ranks battle above peace
//! better than any one-feature baseline (loudness, spectral centroid, onset rate), and no
//! shipped model answers the same for every clip. Runs the `trainer` CLI as a user would.

mod common;

use common::{ok, s, trainer};
use std::path::{Path, PathBuf};
use trainer::baselines::{Baselines, DESCRIPTORS};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn clips() -> PathBuf {
    root().join("tests/real-clips/annotations.csv")
}

/// `trainer evaluate --json` of a shipped model on the clips.
fn evaluate(model: &Path, cache: &Path) -> serde_json::Value {
    let o = ok(trainer(&[
        "evaluate",
        "--model",
        s(model),
        "--music",
        s(&clips()),
        "--split",
        "all",
        "--json",
        "--cache",
        s(cache),
    ]));
    serde_json::from_slice(&o.stdout).expect("evaluate --json prints JSON")
}

#[test]
fn the_default_model_beats_every_one_feature_baseline_on_real_clips() {
    let cache = tempfile::tempdir().unwrap();
    let o = ok(trainer(&[
        "baselines",
        "--music",
        s(&clips()),
        "--json",
        "--cache",
        s(cache.path()),
    ]));
    let baselines: Baselines = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(baselines.songs, 14, "the committed clips");
    let best_feature = baselines
        .scores
        .iter()
        .filter(|b| DESCRIPTORS.contains(&b.name.as_str()))
        .map(|b| (b.arousal_auc.expect("both arousal classes"), b.name.clone()))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .expect("the one-feature baselines");

    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("models/index.json")).expect("models/index.json"),
    )
    .unwrap();
    let default = index["default"].as_str().expect("a default model");
    let mut default_auc = None;
    for m in index["models"].as_array().unwrap() {
        let file = m["file"].as_str().unwrap();
        let e = evaluate(&root().join("models").join(file), cache.path());
        let auc = e["people"]["arousal_auc"].as_f64().expect("an arousal AUC");
        assert_eq!(e["people"]["arousal_songs"], 14);
        // A model with one answer for every clip ranks nothing: its AUC is 0.5 exactly.
        let answers = &e["song"]["arousal"]["confusion"]["counts"];
        println!("{file}: arousal AUC {auc:.3}, song-level confusion {answers}");
        assert!(auc > 0.5, "{file}: arousal AUC {auc} on the real clips");
        if file == default {
            default_auc = Some(auc);
        }
    }
    let default_auc = default_auc.expect("the default is listed");
    println!(
        "default {default}: {default_auc:.3}; best one-feature baseline: {} {:.3}",
        best_feature.1, best_feature.0
    );
    assert!(
        default_auc > best_feature.0,
        "the default model ({default}, arousal AUC {default_auc:.3}) does not beat {} ({:.3})",
        best_feature.1,
        best_feature.0
    );
}
