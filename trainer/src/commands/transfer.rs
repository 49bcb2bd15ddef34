//! `trainer transfer`: a pretrained encoder transferred to the multi-task classifier on a
//! music set (Feat. Ext. or Full), exported and scored on the run's test part.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use mer::model_file::{Precision, TransferMode};
use serde::{Deserialize, Serialize};

use super::export::{TrainedRun, export_scored};
use super::{MusicSet, load_encoder, load_music, loop_options, patch_set};
use crate::cli::values::{self, positive};
use crate::data::{self, AvMapping, FeatureCache, PackRef, SplitFile};
use crate::io::write_atomic;
use crate::run::Run;
use crate::train::{self, LoopOptions, Schedule, TransferPlan, TransferSchedules};

/// A transfer run's configuration (its `config.json`), parsed from `trainer transfer`'s
/// flags; `music_name`, `av_midpoint` and `schedules` come from other flags (see
/// [`crate::cli`]). The display orders keep the help's order of the flags as it has been.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct TransferConfig {
    /// Pretraining run folder
    #[arg(long)]
    pub encoder: PathBuf,
    /// Music set: an annotation CSV (Songs, Quads[, Arousal, Valence]; or continuous
    /// Arousal, Valence), or a DEAM, PMEmo or emoMusic folder as unpacked, or a feature
    /// pack of one (`trainer pack --music`, known by its content)
    #[arg(long)]
    pub music: PathBuf,
    #[arg(skip)]
    pub music_name: String,
    #[arg(skip)]
    pub av_midpoint: f64,
    #[arg(long, value_parser = values::transfer_mode(), display_order = 5)]
    pub mode: TransferMode,
    #[arg(long, value_parser = positive, default_value_t = 100, display_order = 7)]
    pub epochs: usize,
    #[arg(long, value_parser = positive, default_value_t = 64, display_order = 8)]
    pub batch: usize,
    /// Patches drawn per epoch (both phases); all when absent
    #[arg(long, value_parser = positive, display_order = 9)]
    pub epoch_patches: Option<usize>,
    // A fine-tuning epoch runs the whole network; the frozen phase trains on cached
    // encoder outputs.
    /// Patches drawn per epoch of the Full phase (default: --epoch-patches)
    #[arg(long, value_parser = positive, display_order = 10)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_epoch_patches: Option<usize>,
    /// Epochs of the Full phase (default: --epochs)
    #[arg(long, value_parser = positive, display_order = 11)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_epochs: Option<usize>,
    #[arg(long, default_value_t = 0, display_order = 13)]
    pub seed: u64,
    /// Precision of the exported model file
    #[arg(long, value_parser = values::precision(), default_value = "int8", display_order = 14)]
    pub precision: Precision,
    #[arg(skip = TransferConfig::schedules())]
    pub schedules: TransferSchedules,
    /// Fold i of k (1-based) of a cross-validation (`transfer --folds k`): the run's test
    /// part is that fold.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<[usize; 2]>,
    /// `music` when it is a feature pack, with its checksum: what the run trained on.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub music_pack: Option<PackRef>,
}

impl TransferConfig {
    /// The run's music set, its features from the cache in `cache_dir`, or from the
    /// feature pack the run recorded (refused if it is another now).
    pub(super) fn load_music(&self, cache_dir: &Path) -> Result<MusicSet> {
        let mapping = AvMapping {
            midpoint: self.av_midpoint,
        };
        if let Some(recorded) = &self.music_pack {
            recorded.check()?;
        }
        load_music(&self.music, mapping, &FeatureCache::new(cache_dir)?)
    }

    /// This configuration with `music_pack` naming its music's feature pack as it is now
    /// (none when the music is a CSV or a folder).
    pub fn with_music_pack(&self) -> Result<Self> {
        Ok(Self {
            music_pack: PackRef::of(&self.music)?,
            ..self.clone()
        })
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
    let cfg = &cfg.with_music_pack()?;
    let (theirs, mine) = (Run::at(feat_ext), Run::at(full));
    // A run already begun there goes on as it is (its own phase, or the copy made before);
    // without its config.json nothing was trained there yet, and the copy is made (again).
    if mine.config_path().exists() {
        return Ok(());
    }
    let their_cfg: TransferConfig = theirs.finished_config("transfer", "the Feat. Ext. run")?;
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
            c.fold,
            c.music_pack
        ])
    };
    if their_cfg.mode != TransferMode::FeatExt || key(&their_cfg) != key(cfg) {
        bail!(
            "{}: not a Feat. Ext. run of the same encoder, music, epochs, batch, epoch \
             patches and seed",
            feat_ext.display()
        );
    }
    std::fs::create_dir_all(mine.checkpoint_dir())?;
    let files: [fn(&Run) -> PathBuf; 5] = [
        Run::best_path,
        Run::metrics_path,
        Run::splits_path,
        Run::log_path,
        |r| r.phase_path(train::phase::FEAT_EXT),
    ];
    for (from, to) in files.map(|f| (f(&theirs), f(&mine))) {
        if from.exists() {
            std::fs::copy(from, to)?;
        }
    }
    // The phase-0 marker (the frozen phase's best checkpoint metric) goes last: a copy cut
    // short is made again. Runs written before the marker was kept lack it: rebuild it from
    // the metrics (minus the best val accuracy, without the loss tie-break).
    let marker = mine.frozen_phase_done_path();
    match std::fs::read(theirs.frozen_phase_done_path()) {
        Ok(bytes) => write_atomic(&marker, &bytes),
        Err(_) => {
            let best = theirs
                .metrics()?
                .column("val_quadrant_accuracy")
                .context("no val_quadrant_accuracy column")?
                .into_iter()
                .fold(0.0, f64::max);
            write_atomic(&marker, serde_json::to_string(&(-best))?.as_bytes())
        }
    }
}

pub fn transfer(
    cfg: &TransferConfig,
    out: &Path,
    cache_dir: &Path,
    devices: &[Device],
) -> Result<PathBuf> {
    let cfg = &cfg.with_music_pack()?;
    let run = Run::open(out, cfg)?;
    let model_path = run.model_path();
    if run.done() && model_path.exists() {
        run.log(&format!("{}: already complete", out.display()));
        return Ok(model_path);
    }
    let music = cfg.load_music(cache_dir)?;
    let split = split_of(
        &run,
        &music,
        || {
            let labels: Vec<_> = music.songs.iter().map(|s| s.quadrant).collect();
            data::stratified_split(&labels, 0.3, 0.15, cfg.seed)
        },
        cfg,
    )?;
    transfer_split(&run, cfg, &music, &split, devices, None)
}

/// The run's split: the one written in its folder, or `make`'s, written there first.
pub(super) fn split_of(
    run: &Run,
    music: &MusicSet,
    make: impl FnOnce() -> data::Splits,
    cfg: &TransferConfig,
) -> Result<SplitFile> {
    if run.splits_path().exists() {
        return run.read_splits();
    }
    let f = SplitFile::new(&music.songs, &make(), cfg.seed, &cfg.music);
    run.write_splits(&f)?;
    Ok(f)
}

/// The frozen encoder's outputs of every patch of every song (for folds to share), with
/// each song's first row.
pub(super) struct SongLatents {
    all: train::LatentSet,
    first_row: Vec<usize>,
}

impl SongLatents {
    pub(super) fn new(cfg: &TransferConfig, music: &MusicSet, device: &Device) -> Result<Self> {
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
pub(super) fn transfer_split(
    run: &Run,
    cfg: &TransferConfig,
    music: &MusicSet,
    split: &SplitFile,
    devices: &[Device],
    latents: Option<&SongLatents>,
) -> Result<PathBuf> {
    let model_path = run.model_path();
    let opts = loop_options(devices, cfg.epochs, cfg.batch, cfg.seed, cfg.epoch_patches)?;
    let train_device = opts.devices[0].clone();
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
    let full_opts = LoopOptions {
        epochs: cfg.full_epochs.unwrap_or(cfg.epochs),
        epoch_samples: cfg.full_epoch_patches.or(cfg.epoch_patches),
        ..opts.clone()
    };
    let plan = TransferPlan {
        full: cfg.mode == TransferMode::Full,
        schedules: &cfg.schedules,
        opts: &opts,
        full_opts: &full_opts,
    };
    let model = train::transfer(
        run,
        encoder,
        (&train_set, &train_labels),
        (&val_set, &val_labels),
        &train_device,
        &plan,
        latents.map(|l| (l.of(music, &train_idx), l.of(music, &val_idx))),
    )?;
    // Export, then score the exported file itself: its metrics are the shipped model's.
    let trained = TrainedRun {
        run,
        cfg,
        pre: &pre,
        music,
        split,
    };
    let (file, evaluation) = export_scored(&trained, &model, cfg.precision, &devices[0])?;
    write_atomic(&model_path, &file.to_bytes())?;
    run.write_evaluation(&evaluation)?;
    run.finish(&serde_json::json!({ "model": model_path, "test": evaluation.summary() }))?;
    run.log(&format!(
        "model -> {} ({:.2} MB); test quadrant F1 (weighted, patches) {:.3}",
        model_path.display(),
        std::fs::metadata(&model_path)?.len() as f64 / 1e6,
        evaluation.patch.quadrant.scores.weighted.f1
    ));
    Ok(model_path)
}
