//! The training commands: pretrain, transfer, evaluate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use mer::model::{Classifier, Cpc, Encoder, Scae};
use mer::model_file::{Method, ModelFile, ModelMeta, Precision, TransferMode, Variant};
use mer::{Patches, SongPrediction};
use serde::{Deserialize, Serialize};

use crate::data::{self, AvMapping, FeatureCache, Song, SpeechSource, SplitFile};
use crate::io::write_atomic;
use crate::metrics::{Confusion, Scores};
use crate::train::{
    self, CpcObjective, LoopOptions, PatchLabels, PatchSet, Run, Schedule, TransferSchedules,
};

/// Pretraining method on the command line ("dae" is the paper's SCAE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PretrainMethod {
    #[value(alias = "scae")]
    Dae,
    Cpc,
}

impl PretrainMethod {
    pub fn method(self) -> Method {
        match self {
            PretrainMethod::Dae => Method::Scae,
            PretrainMethod::Cpc => Method::Cpc,
        }
    }

    /// The name of its training phase (its `phase-<name>.json` in the run folder).
    pub fn phase(self) -> &'static str {
        match self {
            PretrainMethod::Dae => train::phase::DAE,
            PretrainMethod::Cpc => train::phase::CPC,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainConfig {
    pub method: PretrainMethod,
    pub objective: CpcObjective,
    pub speech: Vec<SpeechSource>,
    pub hours: Option<f64>,
    pub epochs: usize,
    pub batch: usize,
    pub epoch_patches: Option<usize>,
    pub seed: u64,
    pub schedule: Schedule,
}

impl PretrainConfig {
    /// docs/METHOD.md, "Pretraining schedule": Adam lr 1e-3, decay 4e-6, ReduceLROnPlateau
    /// patience 5, early stop 50; batch 4 for the SCAE in the original (a larger batch
    /// trains faster on a CPU).
    pub fn schedule() -> Schedule {
        Schedule {
            lr: 1e-3,
            decay: 4e-6,
            plateau_factor: 0.5,
            plateau_patience: 5,
            early_stop_patience: 50,
        }
    }

    pub fn languages(&self) -> Vec<String> {
        let mut l: Vec<String> = self.speech.iter().map(|s| s.language.clone()).collect();
        l.dedup();
        l
    }
}

/// Where features are cached unless `--cache` says otherwise: beside the run folder.
pub fn default_cache(out: &Path) -> PathBuf {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("feature-cache")
}

/// Features of files through the cache; unreadable files are reported and left out.
fn features_of(cache: &FeatureCache, paths: &[PathBuf], what: &str) -> Vec<Option<Patches>> {
    let results = cache.patches_many(paths, what);
    let mut bad = 0;
    let out = results
        .into_iter()
        .zip(paths)
        .map(|(r, p)| match r {
            Ok(x) => Some(x),
            Err(e) => {
                bad += 1;
                eprintln!("warning: {}: {e:#}; skipped", p.display());
                None
            }
        })
        .collect();
    if bad > 0 {
        eprintln!("{what}: {bad} unreadable files skipped");
    }
    out
}

/// Autodiff versions of the training devices (the first holds the model), seeded.
fn autodiff(devices: &[Device], seed: u64) -> Result<Vec<Device>> {
    let out: Vec<Device> = devices.iter().map(|d| d.clone().autodiff()).collect();
    out.first().context("no training device")?.seed(seed);
    Ok(out)
}

pub fn pretrain(
    cfg: &PretrainConfig,
    out: &Path,
    cache_dir: &Path,
    devices: &[Device],
) -> Result<()> {
    let run = Run::open(out, cfg)?;
    if run.done() {
        run.log(&format!("{}: already complete", out.display()));
        return Ok(());
    }
    if cfg.speech.is_empty() {
        bail!("no --speech folder given");
    }
    let files = data::draw_speech(&cfg.speech, cfg.hours, cfg.seed)?;
    let cache = FeatureCache::new(cache_dir)?;
    let paths: Vec<PathBuf> = files.iter().map(|f| f.1.clone()).collect();
    let patches: Vec<Patches> = features_of(&cache, &paths, "speech")
        .into_iter()
        .flatten()
        .filter(|p| p.n > 0)
        .collect();
    let set = PatchSet::new(patches);
    // docs/METHOD.md, "Pretraining schedule": 85 % train / 15 % validation, by utterance.
    let (train_set, val_set) = set.split_files(0.15, cfg.seed);
    run.log(&format!(
        "pretrain {:?} on {}: {} utterances ({} patches) train, {} ({} patches) validation",
        cfg.method,
        cfg.languages().join("+"),
        train_set.files(),
        train_set.len(),
        val_set.files(),
        val_set.len()
    ));
    if train_set.is_empty() || val_set.is_empty() {
        bail!(
            "not enough speech: every utterance needs at least one 1-s patch, and two utterances are needed"
        );
    }
    let train_devices = autodiff(devices, cfg.seed)?;
    let train_device = train_devices[0].clone();
    let opts = LoopOptions {
        epochs: cfg.epochs,
        batch: cfg.batch,
        seed: cfg.seed,
        epoch_samples: cfg.epoch_patches,
        devices: train_devices,
    };
    match cfg.method {
        PretrainMethod::Dae => {
            train::pretrain_dae(
                &run,
                &train_set,
                &val_set,
                &train_device,
                &cfg.schedule,
                &opts,
            )?;
        }
        PretrainMethod::Cpc => {
            train::pretrain_cpc(
                &run,
                &train_set,
                &val_set,
                cfg.objective,
                &train_device,
                &cfg.schedule,
                &opts,
            )?;
        }
    }
    run.finish(&serde_json::json!({
        "method": cfg.method,
        "languages": cfg.languages(),
        "utterances": set_sizes(&train_set, &val_set),
    }))?;
    run.log(&format!("pretraining done: {}", run.best_path().display()));
    Ok(())
}

fn set_sizes(train: &PatchSet, val: &PatchSet) -> serde_json::Value {
    serde_json::json!({
        "train_files": train.files(), "train_patches": train.len(),
        "val_files": val.files(), "val_patches": val.len(),
    })
}

/// The configuration of a finished run folder. `kind` names the run in the errors
/// ("pretraining", "transfer"), `phase` what has to have finished.
fn finished_run_config<C: serde::de::DeserializeOwned>(
    dir: &Path,
    kind: &str,
    phase: &str,
) -> Result<C> {
    let cfg_path = dir.join("config.json");
    let cfg = serde_json::from_slice(
        &std::fs::read(&cfg_path)
            .with_context(|| format!("{}: not a {kind} run", dir.display()))?,
    )
    .with_context(|| format!("{}: not a {kind} run", cfg_path.display()))?;
    if !dir.join("done.json").exists() {
        bail!(
            "{}: {phase} has not finished (rerun its command to resume it)",
            dir.display()
        );
    }
    Ok(cfg)
}

/// The encoder of a finished pretraining run, and its method and languages.
pub fn load_encoder(run_dir: &Path, device: &Device) -> Result<(Encoder, PretrainConfig)> {
    let cfg: PretrainConfig = finished_run_config(run_dir, "pretraining", "pretraining")?;
    let bytes = std::fs::read(run_dir.join("best.record"))
        .with_context(|| format!("{}: no best.record", run_dir.display()))?;
    let encoder = match cfg.method {
        PretrainMethod::Dae => train::load_record(Scae::new(device), &bytes)?.encoder,
        PretrainMethod::Cpc => train::load_record(Cpc::new(device), &bytes)?.encoder,
    };
    Ok((encoder, cfg))
}

/// A music set: songs with labels and features, songs without usable audio left out.
pub struct MusicSet {
    pub songs: Vec<Song>,
    pub patches: Vec<Patches>,
}

pub fn load_music(csv: &Path, mapping: AvMapping, cache: &FeatureCache) -> Result<MusicSet> {
    let songs = data::read_music(csv, mapping)?;
    let paths: Vec<PathBuf> = songs.iter().map(|s| s.path.clone()).collect();
    let feats = features_of(cache, &paths, &csv.display().to_string());
    let (mut kept, mut patches) = (Vec::new(), Vec::new());
    for (song, p) in songs.into_iter().zip(feats) {
        match p {
            Some(p) if p.n > 0 => {
                kept.push(song);
                patches.push(p);
            }
            Some(_) => eprintln!(
                "warning: {}: shorter than one patch; skipped",
                song.path.display()
            ),
            None => {}
        }
    }
    if kept.is_empty() {
        bail!("{}: no song with usable audio", csv.display());
    }
    Ok(MusicSet {
        songs: kept,
        patches,
    })
}

fn patch_set(music: &MusicSet, idx: &[usize]) -> (PatchSet, PatchLabels) {
    let mut labels = PatchLabels {
        quadrant: vec![],
        arousal: vec![],
        valence: vec![],
    };
    let mut files = Vec::new();
    for &i in idx {
        let s = &music.songs[i];
        let n = music.patches[i].n;
        labels
            .quadrant
            .extend(std::iter::repeat_n(s.quadrant.index(), n));
        labels
            .arousal
            .extend(std::iter::repeat_n(usize::from(s.arousal), n));
        labels
            .valence
            .extend(std::iter::repeat_n(usize::from(s.valence), n));
        files.push(music.patches[i].clone());
    }
    (PatchSet::new(files), labels)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferConfig {
    pub encoder: PathBuf,
    pub music: PathBuf,
    pub music_name: String,
    pub av_midpoint: f64,
    pub mode: TransferMode,
    pub epochs: usize,
    pub batch: usize,
    pub epoch_patches: Option<usize>,
    /// Patches per epoch of the Full phase, when not `epoch_patches` (a fine-tuning epoch
    /// runs the whole network; the frozen phase trains on cached encoder outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_epoch_patches: Option<usize>,
    /// Epochs of the Full phase, when not `epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_epochs: Option<usize>,
    pub seed: u64,
    pub precision: Precision,
    pub schedules: TransferSchedules,
    /// Fold i of k (1-based) of a cross-validation (`transfer --folds k`): the run's test
    /// part is that fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<[usize; 2]>,
}

impl TransferConfig {
    /// The run's music set, its features from the cache in `cache_dir`.
    fn load_music(&self, cache_dir: &Path) -> Result<MusicSet> {
        let mapping = AvMapping {
            midpoint: self.av_midpoint,
        };
        load_music(&self.music, mapping, &FeatureCache::new(cache_dir)?)
    }

    /// [`Self::schedules`] with another early-stopping patience for both phases.
    pub fn schedules_with_patience(patience: Option<usize>) -> TransferSchedules {
        let mut s = Self::schedules();
        if let Some(p) = patience {
            s.feat_ext.early_stop_patience = p;
            s.full.early_stop_patience = p;
        }
        s
    }

    /// The original code's values (docs/METHOD.md, "Transfer"; the paper's text says 1e-4 and
    /// 5e-4): Feat. Ext. at lr 1e-3 with decay 1e-4, Full at 5e-5.
    pub fn schedules() -> TransferSchedules {
        TransferSchedules {
            feat_ext: Schedule {
                lr: 1e-3,
                decay: 1e-4,
                plateau_factor: 0.5,
                plateau_patience: 5,
                early_stop_patience: 50,
            },
            full: Schedule {
                lr: 5e-5,
                decay: 1e-4,
                plateau_factor: 0.5,
                plateau_patience: 5,
                early_stop_patience: 50,
            },
        }
    }
}

/// A Full run begins with the same frozen phase as a Feat. Ext. run of the same encoder,
/// music, split, schedule and seed: copy that finished phase into `full` instead of
/// training it twice. Refuses a Feat. Ext. run that is unfinished or was trained otherwise.
pub fn reuse_frozen_phase(feat_ext: &Path, full: &Path, cfg: &TransferConfig) -> Result<()> {
    let marker = Path::new(train::FROZEN_PHASE_DONE);
    // A run already begun there goes on as it is (its own phase, or the copy made before);
    // without its config.json nothing was trained there yet, and the copy is made (again).
    if full.join("config.json").exists() {
        return Ok(());
    }
    let theirs: TransferConfig = finished_run_config(feat_ext, "transfer", "the Feat. Ext. run")?;
    let key = |c: &TransferConfig| {
        serde_json::json!([
            c.encoder,
            c.music,
            c.av_midpoint,
            c.epochs,
            c.batch,
            c.epoch_patches,
            c.seed,
            c.schedules.feat_ext,
            c.fold
        ])
    };
    if theirs.mode != TransferMode::FeatExt || key(&theirs) != key(cfg) {
        bail!(
            "{}: not a Feat. Ext. run of the same encoder, music, epochs, batch, epoch \
             patches and seed",
            feat_ext.display()
        );
    }
    std::fs::create_dir_all(full.join("checkpoint"))?;
    let record = |dir: &Path| Run::phase_path(dir, train::phase::FEAT_EXT);
    for (from, to) in ["best.record", "metrics.csv", "splits.json", "log.txt"]
        .iter()
        .map(|f| (feat_ext.join(f), full.join(f)))
        .chain([(record(feat_ext), record(full))])
    {
        if from.exists() {
            std::fs::copy(from, to)?;
        }
    }
    // The phase-0 marker (the frozen phase's best checkpoint metric) goes last: a copy cut
    // short is made again. Runs written before the marker was kept lack it: rebuild it from
    // the metrics (minus the best val accuracy, without the loss tie-break).
    match std::fs::read(feat_ext.join(marker)) {
        Ok(bytes) => write_atomic(&full.join(marker), &bytes),
        Err(_) => {
            let best = best_val_accuracy(&feat_ext.join("metrics.csv"))?;
            write_atomic(
                &full.join(marker),
                serde_json::to_string(&(-best))?.as_bytes(),
            )
        }
    }
}

fn best_val_accuracy(metrics: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(metrics)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "val_quadrant_accuracy")
        .context("no val_quadrant_accuracy column")?;
    Ok(lines
        .filter_map(|l| l.split(',').nth(col)?.parse::<f64>().ok())
        .fold(0.0, f64::max))
}

pub const SPLITS_FILE: &str = "splits.json";

/// The whole schedule behind a transfer run's model: each phase's record (pretraining of
/// its encoder, Feat. Ext., Full) and the phase whose best weights were exported (a Full
/// run that never beat its frozen phase exports the frozen phase's weights).
fn schedule_record(
    encoder_run: &Path,
    pretraining: PretrainMethod,
    out: &Path,
    mode: TransferMode,
) -> Result<serde_json::Value> {
    let pretraining = Run::phase_record(encoder_run, pretraining.phase())?;
    let feat_ext = Run::phase_record(out, train::phase::FEAT_EXT)?;
    let full = match mode {
        TransferMode::Full => Run::phase_record(out, train::phase::FULL)?,
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

pub fn transfer(
    cfg: &TransferConfig,
    out: &Path,
    cache_dir: &Path,
    devices: &[Device],
) -> Result<PathBuf> {
    let run = Run::open(out, cfg)?;
    let model_path = out.join(MODEL_FILE);
    if run.done() && model_path.exists() {
        run.log(&format!("{}: already complete", out.display()));
        return Ok(model_path);
    }
    let music = cfg.load_music(cache_dir)?;
    let split = split_of(
        out,
        &music,
        || {
            let labels: Vec<_> = music.songs.iter().map(|s| s.quadrant).collect();
            data::stratified_split(&labels, 0.3, 0.15, cfg.seed)
        },
        cfg,
    )?;
    transfer_split(&run, cfg, &music, &split, devices, None)
}

/// The model file in a transfer run folder.
pub const MODEL_FILE: &str = "model.mer";

/// The split written in a transfer run's folder.
fn read_split(run_dir: &Path) -> Result<SplitFile> {
    let path = run_dir.join(SPLITS_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("{}: unreadable", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: unreadable", path.display()))
}

/// The run's split: the one written in its folder, or `make`'s, written there first.
fn split_of(
    out: &Path,
    music: &MusicSet,
    make: impl FnOnce() -> data::Splits,
    cfg: &TransferConfig,
) -> Result<SplitFile> {
    let split_path = out.join(SPLITS_FILE);
    if split_path.exists() {
        return read_split(out);
    }
    let f = SplitFile::new(&music.songs, &make(), cfg.seed, &cfg.music);
    write_atomic(&split_path, serde_json::to_string_pretty(&f)?.as_bytes())?;
    Ok(f)
}

/// The frozen encoder's outputs of every patch of every song (for folds to share), with
/// each song's first row.
struct SongLatents {
    all: train::LatentSet,
    first_row: Vec<usize>,
}

impl SongLatents {
    fn new(cfg: &TransferConfig, music: &MusicSet, device: &Device) -> Result<Self> {
        let (encoder, _) = load_encoder(&cfg.encoder, device)?;
        let every: Vec<usize> = (0..music.songs.len()).collect();
        let (set, _) = patch_set(music, &every);
        let mut first_row = Vec::with_capacity(music.patches.len());
        let mut n = 0;
        for p in &music.patches {
            first_row.push(n);
            n += p.n;
        }
        Ok(Self {
            all: train::LatentSet::new(&encoder, &set, device, "every song")?,
            first_row,
        })
    }

    /// The outputs of the given songs' patches, in the order `patch_set` lays them out.
    fn of(&self, music: &MusicSet, songs: &[usize]) -> train::LatentSet {
        let rows: Vec<usize> = songs
            .iter()
            .flat_map(|&i| self.first_row[i]..self.first_row[i] + music.patches[i].n)
            .collect();
        self.all.select(&rows)
    }
}

/// Trains, exports and tests one transfer run on a given split.
fn transfer_split(
    run: &Run,
    cfg: &TransferConfig,
    music: &MusicSet,
    split: &SplitFile,
    devices: &[Device],
    latents: Option<&SongLatents>,
) -> Result<PathBuf> {
    let out = &run.dir;
    let model_path = out.join(MODEL_FILE);
    let train_devices = autodiff(devices, cfg.seed)?;
    let train_device = train_devices[0].clone();
    let (encoder, pre) = load_encoder(&cfg.encoder, &train_device)?;
    let train_idx = split.part(&music.songs, "train")?;
    let val_idx = split.part(&music.songs, "val")?;
    if train_idx.is_empty() || val_idx.is_empty() {
        bail!(
            "{}: too few songs for a train/validation split",
            cfg.music.display()
        );
    }
    let (train_set, train_labels) = patch_set(music, &train_idx);
    let (val_set, val_labels) = patch_set(music, &val_idx);
    run.log(&format!(
        "transfer {} ({}) to {}: {} train songs ({} patches), {} validation songs ({} patches)",
        pre.method.method().label(),
        pre.languages().join("+"),
        cfg.music_name,
        train_idx.len(),
        train_set.len(),
        val_idx.len(),
        val_set.len()
    ));
    let opts = LoopOptions {
        epochs: cfg.epochs,
        batch: cfg.batch,
        seed: cfg.seed,
        epoch_samples: cfg.epoch_patches,
        devices: train_devices,
    };
    let full_opts = LoopOptions {
        epochs: cfg.full_epochs.unwrap_or(cfg.epochs),
        epoch_samples: cfg.full_epoch_patches.or(cfg.epoch_patches),
        ..opts.clone()
    };
    let model = train::transfer(
        run,
        encoder,
        (&train_set, &train_labels),
        (&val_set, &val_labels),
        cfg.mode == TransferMode::Full,
        &train_device,
        &cfg.schedules,
        (&opts, &full_opts),
        latents.map(|l| (l.of(music, &train_idx), l.of(music, &val_idx))),
    )?;
    // Export, then score the exported file itself: its metrics are the shipped model's.
    let (file, evaluation) = export_scored(
        out,
        cfg,
        &pre,
        music,
        split,
        &model,
        cfg.precision,
        &devices[0],
    )?;
    write_atomic(&model_path, &file.to_bytes())?;
    write_evaluation(out, &evaluation)?;
    run.finish(&serde_json::json!({ "model": model_path, "test": evaluation.summary() }))?;
    run.log(&format!(
        "model -> {} ({:.2} MB); test quadrant F1 (weighted, patches) {:.3}",
        model_path.display(),
        std::fs::metadata(&model_path)?.len() as f64 / 1e6,
        evaluation.patch.quadrant.scores.weighted.f1
    ));
    Ok(model_path)
}

/// The model file of a transfer run's final weights (`model`, f32) at `precision`, scored
/// on the run's test part: the scores stored in the file are the file's own.
#[allow(clippy::too_many_arguments)]
fn export_scored(
    out: &Path,
    cfg: &TransferConfig,
    pre: &PretrainConfig,
    music: &MusicSet,
    split: &SplitFile,
    model: &Classifier,
    precision: Precision,
    device: &Device,
) -> Result<(ModelFile, Evaluation)> {
    let weights = mer::inference::encode_weights(model, precision)?;
    let mut file = ModelFile {
        meta: ModelMeta {
            training: serde_json::json!({
                "encoder_run": cfg.encoder, "music": cfg.music, "epochs": cfg.epochs,
                "batch": cfg.batch, "seed": cfg.seed,
                "pretrain_hours": pre.hours,
                "train_songs": split.part(&music.songs, "train")?.len(),
                "val_songs": split.part(&music.songs, "val")?.len(),
                "test_songs": split.test.len(),
                "schedule": schedule_record(&cfg.encoder, pre.method, out, cfg.mode)?,
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
    let cfg: TransferConfig = finished_run_config(run_dir, "transfer", "transfer")?;
    let pre: PretrainConfig = finished_run_config(&cfg.encoder, "pretraining", "pretraining")?;
    let best = run_dir.join("best.record");
    let bytes = std::fs::read(&best).with_context(|| format!("{}: unreadable", best.display()))?;
    let model = train::load_record(Classifier::new(device), &bytes)
        .with_context(|| format!("{}: not a classifier's weights", best.display()))?;
    let music = cfg.load_music(cache_dir)?;
    let split = read_split(run_dir)?;
    let (file, evaluation) = export_scored(
        run_dir, &cfg, &pre, &music, &split, &model, precision, device,
    )?;
    write_atomic(to, &file.to_bytes())?;
    Ok(evaluation)
}

/// `trainer transfer --folds k`: clip-level stratified k-fold cross-validation. Fold i
/// trains in `OUT/fold-<i>` (an ordinary transfer run: resumable, with its model file and
/// test evaluation) with fold i as its test part and 15 % of the rest as validation; the
/// frozen encoder's outputs are computed once for all folds. Writes `OUT/folds.json` and
/// `OUT/folds.md`: each metric's mean and standard deviation over the folds.
pub fn transfer_folds(
    cfg: &TransferConfig,
    folds: usize,
    out: &Path,
    cache_dir: &Path,
    devices: &[Device],
) -> Result<FoldReport> {
    if folds < 2 {
        bail!("--folds {folds}: cross-validation needs at least 2 folds");
    }
    let music = cfg.load_music(cache_dir)?;
    if folds > music.songs.len() {
        bail!(
            "--folds {folds}: more folds than the {} songs of {}",
            music.songs.len(),
            cfg.music.display()
        );
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("{}: cannot create the folder", out.display()))?;
    let labels: Vec<_> = music.songs.iter().map(|s| s.quadrant).collect();
    let splits = data::stratified_folds(&labels, folds, 0.15, cfg.seed);
    let mut latents: Option<SongLatents> = None;
    let mut evaluations = Vec::with_capacity(folds);
    for (f, part) in splits.into_iter().enumerate() {
        let dir = out.join(format!("fold-{:02}", f + 1));
        let fold_cfg = TransferConfig {
            fold: Some([f + 1, folds]),
            ..cfg.clone()
        };
        let run = Run::open(&dir, &fold_cfg)?;
        let split = split_of(&dir, &music, || part, &fold_cfg)?;
        if !(run.done() && dir.join(MODEL_FILE).exists()) {
            run.log(&format!("fold {} of {folds}", f + 1));
            let shared = if dir.join(train::FROZEN_PHASE_DONE).exists() {
                None
            } else {
                if latents.is_none() {
                    latents = Some(SongLatents::new(cfg, &music, &devices[0])?);
                }
                latents.as_ref()
            };
            transfer_split(&run, &fold_cfg, &music, &split, devices, shared)?;
        }
        let path = dir.join("evaluation-test.json");
        let e: Evaluation = serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("{}", path.display()))?,
        )
        .with_context(|| format!("{}: unreadable", path.display()))?;
        evaluations.push(e);
    }
    let report = FoldReport::new(cfg, &evaluations);
    write_atomic(
        &out.join("folds.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write_atomic(&out.join("folds.md"), report.markdown().as_bytes())?;
    eprintln!("{} folds -> {}", folds, out.join("folds.md").display());
    Ok(report)
}

/// One metric over the folds: each fold's value (None where undefined) and the mean and
/// sample standard deviation of the defined ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldMetric {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
}

/// The cross-validation report (`folds.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldReport {
    pub music: PathBuf,
    pub encoder: PathBuf,
    pub mode: TransferMode,
    pub folds: usize,
    pub seed: u64,
    pub test_songs: Vec<usize>,
    pub metrics: Vec<FoldMetric>,
}

impl FoldReport {
    fn new(cfg: &TransferConfig, evals: &[Evaluation]) -> Self {
        type Get = fn(&Evaluation) -> Option<f64>;
        let table: [(&str, Get); 14] = [
            ("song quadrant F1 (weighted)", |e| {
                Some(e.song.quadrant.scores.weighted.f1)
            }),
            ("song quadrant F1 (macro)", |e| {
                Some(e.song.quadrant.scores.macro_avg.f1)
            }),
            ("song quadrant accuracy", |e| {
                Some(e.song.quadrant.scores.accuracy)
            }),
            ("song arousal F1 (weighted)", |e| {
                Some(e.song.arousal.scores.weighted.f1)
            }),
            ("song valence F1 (weighted)", |e| {
                Some(e.song.valence.scores.weighted.f1)
            }),
            ("patch quadrant F1 (weighted)", |e| {
                Some(e.patch.quadrant.scores.weighted.f1)
            }),
            ("arousal ROC AUC (people)", |e| e.people.arousal_auc),
            ("valence ROC AUC (people)", |e| e.people.valence_auc),
            ("arousal Pearson r", |e| e.ratings.as_ref()?.arousal_pearson),
            ("arousal Spearman rho", |e| {
                e.ratings.as_ref()?.arousal_spearman
            }),
            ("valence Pearson r", |e| e.ratings.as_ref()?.valence_pearson),
            ("valence Spearman rho", |e| {
                e.ratings.as_ref()?.valence_spearman
            }),
            ("arousal r over time (per song)", |e| {
                e.ratings.as_ref()?.dynamic_arousal_r
            }),
            ("valence r over time (per song)", |e| {
                e.ratings.as_ref()?.dynamic_valence_r
            }),
        ];
        let metrics = table
            .iter()
            .filter_map(|(name, get)| {
                let values: Vec<Option<f64>> = evals.iter().map(get).collect();
                let defined: Vec<f64> = values.iter().flatten().copied().collect();
                let ms = crate::metrics::mean_std(&defined)?;
                Some(FoldMetric {
                    name: name.to_string(),
                    values,
                    mean: Some(ms.0),
                    std: Some(ms.1),
                })
            })
            .collect();
        Self {
            music: cfg.music.clone(),
            encoder: cfg.encoder.clone(),
            mode: cfg.mode,
            folds: evals.len(),
            seed: cfg.seed,
            test_songs: evals.iter().map(|e| e.songs).collect(),
            metrics,
        }
    }

    pub fn markdown(&self) -> String {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        let mut s = format!(
            "{}-fold cross-validation (stratified by quadrant, by song; seed {}) of {} on {}, \
             {} test songs in all.\n\n| metric | mean ± std | {} |\n|---|---|{}\n",
            self.folds,
            self.seed,
            self.encoder.display(),
            self.music.display(),
            self.test_songs.iter().sum::<usize>(),
            (1..=self.folds)
                .map(|i| format!("fold {i}"))
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(self.folds)
        );
        for m in &self.metrics {
            s += &format!(
                "| {} | {} ± {} | {} |\n",
                m.name,
                f(m.mean),
                f(m.std),
                m.values
                    .iter()
                    .map(|v| f(*v))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        s
    }
}

/// Scores of one task: confusion matrix and the averages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskEval {
    pub confusion: Confusion,
    pub scores: Scores,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelEval {
    pub quadrant: TaskEval,
    pub arousal: TaskEval,
    pub valence: TaskEval,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    pub split: String,
    pub songs: usize,
    pub patches: usize,
    /// Every 1-s patch scored (the paper's protocol).
    pub patch: LevelEval,
    /// Every song scored by the mean of its patch probabilities.
    pub song: LevelEval,
    /// Song-level scores against the labels made by people.
    #[serde(default)]
    pub people: PeopleScores,
    /// Correlations with people's continuous ratings, where the music set has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratings: Option<RatingScores>,
}

/// How the model follows people's continuous ratings: across songs, P(arousal+) and
/// P(valence+) against the static ratings (Pearson r, Spearman rho); within songs, the
/// per-patch P(+) at each rated instant (the mean of the patches that cover it) against
/// the ratings over time (Pearson r per song, averaged over the songs where it is defined).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RatingScores {
    pub songs: usize,
    pub arousal_pearson: Option<f64>,
    pub arousal_spearman: Option<f64>,
    pub valence_pearson: Option<f64>,
    pub valence_spearman: Option<f64>,
    pub dynamic_arousal_r: Option<f64>,
    pub dynamic_arousal_songs: usize,
    pub dynamic_valence_r: Option<f64>,
    pub dynamic_valence_songs: usize,
}

impl RatingScores {
    /// `songs` with their song-level P(arousal+), P(valence+) and per-patch predictions;
    /// None when no song has static ratings.
    fn of(songs: &[&Song], predictions: &[SongPrediction]) -> Option<Self> {
        use crate::metrics::{pearson, spearman};
        let rated: Vec<([f64; 2], &SongPrediction)> = songs
            .iter()
            .zip(predictions)
            .filter_map(|(s, p)| s.ratings.map(|r| (r, p)))
            .collect();
        if rated.is_empty() {
            return None;
        }
        let ra: Vec<f64> = rated.iter().map(|x| x.0[0]).collect();
        let rv: Vec<f64> = rated.iter().map(|x| x.0[1]).collect();
        let pa: Vec<f64> = rated.iter().map(|x| f64::from(x.1.arousal)).collect();
        let pv: Vec<f64> = rated.iter().map(|x| f64::from(x.1.valence)).collect();
        // dim 1: arousal, 2: valence (columns of Song::dynamic).
        let dynamic = |dim: usize| {
            let per_song: Vec<f64> = songs
                .iter()
                .zip(predictions)
                .filter_map(|(s, p)| {
                    let (rating, model): (Vec<f64>, Vec<f64>) = s
                        .dynamic
                        .iter()
                        .filter(|row| row[dim].is_finite())
                        .filter_map(|row| {
                            let t = row[0];
                            let covering: Vec<f64> = p
                                .segments
                                .iter()
                                .filter(|seg| seg.start <= t && t < seg.end)
                                .map(|seg| {
                                    f64::from(if dim == 1 { seg.arousal } else { seg.valence })
                                })
                                .collect();
                            (!covering.is_empty()).then(|| {
                                (
                                    row[dim],
                                    covering.iter().sum::<f64>() / covering.len() as f64,
                                )
                            })
                        })
                        .unzip();
                    pearson(&model, &rating)
                })
                .collect();
            (
                crate::metrics::mean_std(&per_song).map(|m| m.0),
                per_song.len(),
            )
        };
        let (dynamic_arousal_r, dynamic_arousal_songs) = dynamic(1);
        let (dynamic_valence_r, dynamic_valence_songs) = dynamic(2);
        Some(Self {
            songs: rated.len(),
            arousal_pearson: pearson(&pa, &ra),
            arousal_spearman: spearman(&pa, &ra),
            valence_pearson: pearson(&pv, &rv),
            valence_spearman: spearman(&pv, &rv),
            dynamic_arousal_r,
            dynamic_arousal_songs,
            dynamic_valence_r,
            dynamic_valence_songs,
        })
    }

    fn markdown(&self) -> String {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        let mut s = format!(
            "\nSongs against people's continuous ratings ({} songs): arousal Pearson r {}, \
             Spearman rho {} (P(arousal+)); valence Pearson r {}, Spearman rho {} (P(valence+)).\n",
            self.songs,
            f(self.arousal_pearson),
            f(self.arousal_spearman),
            f(self.valence_pearson),
            f(self.valence_spearman)
        );
        if self.dynamic_arousal_songs + self.dynamic_valence_songs > 0 {
            s += &format!(
                "\nWithin songs, against the ratings over time (mean per-song Pearson r of the \
                 per-patch P(+)): arousal {} ({} songs), valence {} ({} songs).\n",
                f(self.dynamic_arousal_r),
                self.dynamic_arousal_songs,
                f(self.dynamic_valence_r),
                self.dynamic_valence_songs
            );
        }
        s
    }
}

/// Song-level scores against the labels made by people only (a CSV's teacher-made labels
/// are left out): the ROC AUC of P(arousal+) and P(valence+) (None without both classes),
/// and the quadrant accuracy over the songs whose two labels are both people's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeopleScores {
    pub arousal_auc: Option<f64>,
    pub arousal_songs: usize,
    pub valence_auc: Option<f64>,
    pub valence_songs: usize,
    pub quadrant_accuracy: Option<f64>,
    pub quadrant_songs: usize,
}

impl PeopleScores {
    /// Per-song arousal and valence scores (higher = positive) and quadrant answers.
    pub fn of(songs: &[&Song], arousal: &[f64], valence: &[f64], quadrant: &[usize]) -> Self {
        let auc = |scores: &[f64], label: fn(&Song) -> Option<bool>| {
            let (s, l): (Vec<f64>, Vec<bool>) = songs
                .iter()
                .zip(scores)
                .filter_map(|(song, x)| label(song).map(|l| (*x, l)))
                .unzip();
            (crate::metrics::roc_auc(&s, &l), s.len())
        };
        let (arousal_auc, arousal_songs) =
            auc(arousal, |s| s.arousal_by_people.then_some(s.arousal));
        let (valence_auc, valence_songs) =
            auc(valence, |s| s.valence_by_people.then_some(s.valence));
        let both: Vec<bool> = songs
            .iter()
            .zip(quadrant)
            .filter(|(s, _)| s.arousal_by_people && s.valence_by_people)
            .map(|(s, q)| s.quadrant.index() == *q)
            .collect();
        Self {
            arousal_auc,
            arousal_songs,
            valence_auc,
            valence_songs,
            quadrant_accuracy: (!both.is_empty())
                .then(|| both.iter().filter(|&&c| c).count() as f64 / both.len() as f64),
            quadrant_songs: both.len(),
        }
    }
}

impl Evaluation {
    /// The compact figures stored in model files.
    pub fn summary(&self) -> serde_json::Value {
        let level = |l: &LevelEval| {
            serde_json::json!({
                "quadrant": {"f1_weighted": l.quadrant.scores.weighted.f1, "f1_macro": l.quadrant.scores.macro_avg.f1, "accuracy": l.quadrant.scores.accuracy},
                "arousal": {"f1_weighted": l.arousal.scores.weighted.f1, "f1_macro": l.arousal.scores.macro_avg.f1, "accuracy": l.arousal.scores.accuracy},
                "valence": {"f1_weighted": l.valence.scores.weighted.f1, "f1_macro": l.valence.scores.macro_avg.f1, "accuracy": l.valence.scores.accuracy},
            })
        };
        serde_json::json!({
            "songs": self.songs, "patches": self.patches,
            "patch": level(&self.patch), "song": level(&self.song),
            "people": self.people,
            "ratings": self.ratings,
        })
    }

    pub fn markdown(&self) -> String {
        let mut s = format!(
            "Evaluation on the {} split: {} songs, {} patches.\n\n",
            self.split, self.songs, self.patches
        );
        s += "| level | task | P (weighted) | R (weighted) | F (weighted) | P (macro) | R (macro) | F (macro) | accuracy |\n|---|---|---|---|---|---|---|---|---|\n";
        for (level, l) in [("patch", &self.patch), ("song", &self.song)] {
            for (task, t) in [
                ("quadrant", &l.quadrant),
                ("arousal", &l.arousal),
                ("valence", &l.valence),
            ] {
                let (w, m) = (&t.scores.weighted, &t.scores.macro_avg);
                s += &format!(
                    "| {level} | {task} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                    w.precision, w.recall, w.f1, m.precision, m.recall, m.f1, t.scores.accuracy
                );
            }
        }
        let auc = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        let p = &self.people;
        s += &format!(
            "\nSongs against the labels made by people: arousal ROC AUC {} (P(arousal+), {} songs), valence ROC AUC {} (P(valence+), {} songs), quadrant accuracy {} ({} songs).\n",
            auc(p.arousal_auc),
            p.arousal_songs,
            auc(p.valence_auc),
            p.valence_songs,
            auc(p.quadrant_accuracy),
            p.quadrant_songs
        );
        if let Some(r) = &self.ratings {
            s += &r.markdown();
        }
        for (level, l) in [("patch", &self.patch), ("song", &self.song)] {
            for (task, t) in [
                ("quadrant", &l.quadrant),
                ("arousal", &l.arousal),
                ("valence", &l.valence),
            ] {
                s += &format!(
                    "\nConfusion matrix, {task}, {level} level (rows: truth, columns: prediction)\n\n"
                );
                s += &format!("| | {} |\n", t.confusion.labels.join(" | "));
                s += &format!("|---{}|\n", "|---".repeat(t.confusion.labels.len()));
                for (label, row) in t.confusion.labels.iter().zip(&t.confusion.counts) {
                    let cells: Vec<String> = row.iter().map(u64::to_string).collect();
                    s += &format!("| **{label}** | {} |\n", cells.join(" | "));
                }
            }
        }
        s
    }
}

/// Scores a classifier on songs: every patch, and every song by its mean probabilities.
/// Arousal and valence are each scored from their own labels (the original swapped them).
pub fn evaluate_songs(
    model: &Classifier,
    music: &MusicSet,
    idx: &[usize],
    split: &str,
    device: &Device,
) -> Result<Evaluation> {
    let q_labels = ["Q1", "Q2", "Q3", "Q4"];
    let pm = ["negative", "positive"];
    let new_level = || LevelEvalBuilder {
        q: Confusion::new(&q_labels),
        a: Confusion::new(&pm),
        v: Confusion::new(&pm),
    };
    let (mut patch, mut song) = (new_level(), new_level());
    let recipe = mer::FeatureRecipe::default();
    let mut n_patches = 0;
    let (mut p_arousal, mut p_valence, mut answers) = (Vec::new(), Vec::new(), Vec::new());
    let mut predictions = Vec::with_capacity(idx.len());
    let pb = data::progress_bar(idx.len() as u64, &format!("evaluate {split}"));
    for &i in idx {
        let s = &music.songs[i];
        let probs = pollster::block_on(mer::inference::predict_patches(
            model,
            &music.patches[i],
            device,
            mer::inference::DEFAULT_BATCH,
            |_, _| {},
        ))?;
        for p in &probs {
            patch.add(
                s,
                mer::predict::argmax(&p.quadrant),
                mer::predict::argmax(&p.arousal),
                mer::predict::argmax(&p.valence),
            );
        }
        n_patches += probs.len();
        let sp = SongPrediction::from_patches(&recipe, &probs).context("a song without patches")?;
        song.add(
            s,
            sp.quadrant.index(),
            usize::from(sp.arousal > 0.5),
            usize::from(sp.valence > 0.5),
        );
        p_arousal.push(f64::from(sp.arousal));
        p_valence.push(f64::from(sp.valence));
        answers.push(sp.quadrant.index());
        predictions.push(sp);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let songs: Vec<&Song> = idx.iter().map(|&i| &music.songs[i]).collect();
    Ok(Evaluation {
        split: split.into(),
        songs: idx.len(),
        patches: n_patches,
        patch: patch.finish(),
        song: song.finish(),
        people: PeopleScores::of(&songs, &p_arousal, &p_valence, &answers),
        ratings: RatingScores::of(&songs, &predictions),
    })
}

struct LevelEvalBuilder {
    q: Confusion,
    a: Confusion,
    v: Confusion,
}

impl LevelEvalBuilder {
    fn add(&mut self, s: &Song, q: usize, a: usize, v: usize) {
        self.q.add(s.quadrant.index(), q);
        self.a.add(usize::from(s.arousal), a);
        self.v.add(usize::from(s.valence), v);
    }

    fn finish(self) -> LevelEval {
        let t = |c: Confusion| TaskEval {
            scores: c.scores(),
            confusion: c,
        };
        LevelEval {
            quadrant: t(self.q),
            arousal: t(self.a),
            valence: t(self.v),
        }
    }
}

pub fn write_evaluation(dir: &Path, e: &Evaluation) -> Result<()> {
    write_atomic(
        &dir.join(format!("evaluation-{}.json", e.split)),
        serde_json::to_string_pretty(e)?.as_bytes(),
    )?;
    write_atomic(
        &dir.join(format!("evaluation-{}.md", e.split)),
        e.markdown().as_bytes(),
    )
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
    let bytes =
        crate::io::read_file(model_path).with_context(|| format!("{}", model_path.display()))?;
    let file =
        ModelFile::from_bytes(&bytes).with_context(|| format!("{}", model_path.display()))?;
    let cache = FeatureCache::new(cache_dir)?;
    let music = load_music(csv, mapping, &cache)?;
    let idx = if split == "all" {
        (0..music.songs.len()).collect()
    } else {
        let split_path = model_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(SPLITS_FILE);
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
