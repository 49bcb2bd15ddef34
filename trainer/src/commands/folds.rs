//! `trainer transfer --folds k`: clip-level stratified k-fold cross-validation and its
//! report (`folds.json`, `folds.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use mer::model_file::TransferMode;
use serde::{Deserialize, Serialize};

use super::TransferConfig;
use super::transfer::{SongLatents, split_of, transfer_split};
use crate::data;
use crate::evaluation::Evaluation;
use crate::io::write_atomic;
use crate::run::Run;

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
    let cfg = &cfg.with_music_pack()?;
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
        let split = split_of(&run, &music, || part, &fold_cfg)?;
        if !(run.done() && run.model_path().exists()) {
            run.log(&format!("fold {} of {folds}", f + 1));
            let shared = if run.frozen_phase_done_path().exists() {
                None
            } else {
                if latents.is_none() {
                    latents = Some(SongLatents::new(cfg, &music, &devices[0])?);
                }
                latents.as_ref()
            };
            transfer_split(&run, &fold_cfg, &music, &split, devices, shared)?;
        }
        evaluations.push(run.read_evaluation("test")?);
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
        let f = |v: Option<f64>| crate::metrics::fmt3(v, "n/a");
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
