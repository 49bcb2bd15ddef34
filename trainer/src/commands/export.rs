//! Model files of transfer runs: `trainer export` (a finished run's weights at another
//! precision) and the export that `transfer` ends with, each scored on the run's test
//! part; `trainer evaluate` (a model file on a music set).

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use mer::model::Classifier;
use mer::model_file::{ModelFile, ModelMeta, Precision, TransferMode, Variant};

use super::{MusicSet, PretrainConfig, PretrainMethod, TransferConfig, load_music};
use crate::data::{AvMapping, FeatureCache, SplitFile};
use crate::evaluation::{Evaluation, evaluate_songs};
use crate::io::write_atomic;
use crate::run::{Run, load_record};
use crate::train;

/// A trained transfer run, as its model file records it: the folder, its configuration,
/// its encoder's pretraining, the music set and the split.
#[derive(Clone, Copy)]
pub(super) struct TrainedRun<'a> {
    pub run: &'a Run,
    pub cfg: &'a TransferConfig,
    pub pre: &'a PretrainConfig,
    pub music: &'a MusicSet,
    pub split: &'a SplitFile,
}

/// The model file of a transfer run's final weights (`model`, f32) at `precision`, scored
/// on the run's test part: the scores stored in the file are the file's own.
pub(super) fn export_scored(
    t: &TrainedRun,
    model: &Classifier,
    precision: Precision,
    device: &Device,
) -> Result<(ModelFile, Evaluation)> {
    let TrainedRun {
        run,
        cfg,
        pre,
        music,
        split,
    } = *t;
    let weights = if precision == Precision::Q4 {
        let calibration = calibration_patches(music, &split.part(&music.songs, "train")?);
        mer::inference::encode_q4_calibrated(model, &calibration)?
    } else {
        mer::inference::encode_weights(model, precision)?
    };
    let mut file = ModelFile {
        meta: ModelMeta {
            training: serde_json::json!({
                "encoder_run": cfg.encoder, "music": cfg.music, "epochs": cfg.epochs,
                "batch": cfg.batch, "seed": cfg.seed,
                "pretrain_hours": pre.hours,
                "train_songs": split.part(&music.songs, "train")?.len(),
                "val_songs": split.part(&music.songs, "val")?.len(),
                "test_songs": split.test.len(),
                "schedule": schedule_record(&cfg.encoder, pre.method, run, cfg.mode)?,
            }),
            ..ModelMeta::new(
                Variant {
                    method: pre.method.method(),
                    pretrain_languages: pre.languages(),
                    mode: cfg.mode,
                    music: cfg.music_name.split('+').map(str::to_string).collect(),
                },
                precision,
                format!("trainer {}", env!("CARGO_PKG_VERSION")),
            )
        },
        weights,
    };
    if let (Some(fold), Some(t)) = (cfg.fold, file.meta.training.as_object_mut()) {
        t.insert("fold".into(), serde_json::json!(fold));
    }
    let test_idx = split.part(&music.songs, "test")?;
    let classifier = mer::inference::load_classifier(&file, device)?;
    let evaluation = evaluate_songs(&classifier, music, &test_idx, "test", device)?;
    file.meta.metrics = serde_json::json!({ "test": evaluation.summary() });
    Ok((file, evaluation))
}

/// Patches of the training part that 4-bit rounding is calibrated on (enough for the
/// first dense layer's 7 936 inputs to be well spread; more costs memory and minutes).
const CALIBRATION_PATCHES: usize = 8192;

/// Up to [`CALIBRATION_PATCHES`] patches of the songs `idx`, evenly spaced over all of
/// their patches so that every song contributes.
fn calibration_patches(music: &MusicSet, idx: &[usize]) -> mer::Patches {
    let all: Vec<(usize, usize)> = idx
        .iter()
        .flat_map(|&s| (0..music.patches[s].n).map(move |p| (s, p)))
        .collect();
    let n = all.len().min(CALIBRATION_PATCHES);
    let [n_mels, frames] = mer::model::PATCH;
    let mut data = Vec::with_capacity(n * n_mels * frames);
    for k in 0..n {
        let (s, p) = all[k * all.len() / n];
        data.extend_from_slice(music.patches[s].patch(p));
    }
    mer::Patches {
        n,
        n_mels,
        frames,
        data,
    }
}

/// `trainer export`: a finished transfer run's model at another precision, from the run's
/// f32 weights (never from its exported file), scored on the run's test part like the
/// run's own file. Returns that evaluation.
pub fn export(
    run_dir: &Path,
    precision: Precision,
    to: &Path,
    cache_dir: &Path,
    device: &Device,
) -> Result<Evaluation> {
    let run = Run::at(run_dir);
    let cfg: TransferConfig = run.finished_config("transfer", "transfer")?;
    let pre: PretrainConfig =
        Run::at(&cfg.encoder).finished_config("pretraining", "pretraining")?;
    let best = run.best_path();
    let bytes = std::fs::read(&best).with_context(|| format!("{}: unreadable", best.display()))?;
    let model = load_record(Classifier::new(device), &bytes)
        .with_context(|| format!("{}: not a classifier's weights", best.display()))?;
    let music = cfg.load_music(cache_dir)?;
    let split = run.read_splits()?;
    let trained = TrainedRun {
        run: &run,
        cfg: &cfg,
        pre: &pre,
        music: &music,
        split: &split,
    };
    let (file, evaluation) = export_scored(&trained, &model, precision, device)?;
    write_atomic(to, &file.to_bytes())?;
    Ok(evaluation)
}

/// `trainer evaluate`: a model file on a music set, on one part of the split written
/// beside the model by `transfer` (or on every song with `--split all`).
pub fn evaluate(
    model_path: &Path,
    csv: &Path,
    split: &str,
    mapping: AvMapping,
    cache_dir: &Path,
    device: &Device,
) -> Result<Evaluation> {
    let file = crate::io::load_model(model_path)?;
    let cache = FeatureCache::new(cache_dir)?;
    let music = load_music(csv, mapping, &cache)?;
    let idx = if split == "all" {
        (0..music.songs.len()).collect()
    } else {
        let split_path = Run::at(model_path.parent().unwrap_or(Path::new("."))).splits_path();
        let f: SplitFile =
            serde_json::from_slice(&std::fs::read(&split_path).with_context(|| {
                format!(
                    "{}: no split beside the model (use --split all to score every song)",
                    split_path.display()
                )
            })?)?;
        f.part(&music.songs, split)?
    };
    if idx.is_empty() {
        bail!(
            "{}: no song of the {split} split found in {}",
            model_path.display(),
            csv.display()
        );
    }
    let classifier = mer::inference::load_classifier(&file, device)?;
    evaluate_songs(&classifier, &music, &idx, split, device)
}

/// The whole schedule behind a transfer run's model: each phase's record (pretraining of
/// its encoder, Feat. Ext., Full) and the phase whose best weights were exported (a Full
/// run that never beat its frozen phase exports the frozen phase's weights).
fn schedule_record(
    encoder_run: &Path,
    pretraining: PretrainMethod,
    run: &Run,
    mode: TransferMode,
) -> Result<serde_json::Value> {
    let pretraining = Run::at(encoder_run).phase_record(pretraining.phase())?;
    let feat_ext = run.phase_record(train::phase::FEAT_EXT)?;
    let full = match mode {
        TransferMode::Full => run.phase_record(train::phase::FULL)?,
        TransferMode::FeatExt => None,
    };
    let exported = match &full {
        Some(r) if r.best_epoch > 0 => train::phase::FULL,
        _ => train::phase::FEAT_EXT,
    };
    Ok(serde_json::json!({
        "pretraining": pretraining,
        "feat_ext": feat_ext,
        "full": full,
        "exported_phase": exported,
    }))
}
