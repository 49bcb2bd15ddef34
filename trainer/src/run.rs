//! A run folder, the one place that knows its layout: `config.json` (the configuration,
//! checked on resume), `log.txt`, `metrics.csv` (its one reader and writer), `checkpoint/`
//! (the last epoch's weights, optimizer and [`TrainState`], and the frozen phase's mark),
//! `best.record`, `phase-<name>.json`, `splits.json`, `evaluation-<split>.json|md`,
//! `model.mer` and `done.json`. Everyone else asks the [`Run`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::SplitFile;
use crate::evaluation::Evaluation;
use crate::io::write_atomic;
use crate::train::TrainState;

/// What one training phase did, written to `RUN/phase-<name>.json` when it ends and copied
/// into the model file: how long it trained and which epoch's weights it kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhaseRecord {
    /// One of [`crate::train::phase`]'s names.
    pub phase: String,
    pub epochs_run: usize,
    pub epochs_max: usize,
    /// Samples (patches; CPC: windows) drawn per epoch, of `samples` available.
    pub samples_per_epoch: usize,
    pub samples: usize,
    pub batch: usize,
    pub optimizer_steps: u64,
    /// The epoch whose weights the phase kept; 0 when none beat the previous phase's.
    pub best_epoch: usize,
    /// Its checkpoint metric (lower is better; transfer: minus the validation accuracy).
    pub best_metric: Option<f64>,
    pub stopped_early: bool,
}

/// A run folder (pretraining or transfer).
pub struct Run {
    pub dir: PathBuf,
}

impl Run {
    /// Opens (or creates) a run folder for `config`. An existing folder must hold the same
    /// configuration (epochs aside), so that a rerun resumes the same run.
    pub fn open<C: Serialize>(dir: &Path, config: &C) -> Result<Self> {
        let run = Self::at(dir);
        std::fs::create_dir_all(run.checkpoint_dir())
            .with_context(|| format!("{}: cannot create the run folder", dir.display()))?;
        let mut json = serde_json::to_value(config)?;
        let path = run.config_path();
        if path.exists() {
            let mut old: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
                .with_context(|| format!("{}: unreadable", path.display()))?;
            for v in [&mut old, &mut json] {
                if let Some(o) = v.as_object_mut() {
                    o.remove("epochs");
                }
            }
            if old != json {
                bail!(
                    "{} holds a run with another configuration; choose another --out",
                    dir.display()
                );
            }
        }
        // A finished run keeps the config it was trained with (a rerun with more epochs
        // must not relabel it).
        if !run.done() {
            write_atomic(&path, serde_json::to_string_pretty(config)?.as_bytes())?;
        }
        Ok(run)
    }

    /// The run folder at `dir`, as it is (nothing created or checked).
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log.txt")
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }

    pub fn checkpoint_dir(&self) -> PathBuf {
        self.dir.join("checkpoint")
    }

    /// In a transfer run, the mark of a finished frozen phase (its best metric).
    pub fn frozen_phase_done_path(&self) -> PathBuf {
        self.checkpoint_dir().join("phase0.json")
    }

    pub fn best_path(&self) -> PathBuf {
        self.dir.join("best.record")
    }

    pub fn phase_path(&self, phase: &str) -> PathBuf {
        self.dir.join(format!("phase-{phase}.json"))
    }

    /// The song split of a transfer run (also read beside a model file by `evaluate`).
    pub fn splits_path(&self) -> PathBuf {
        self.dir.join("splits.json")
    }

    /// `evaluation-<split>.<ext>` (ext: json or md).
    pub fn evaluation_path(&self, split: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("evaluation-{split}.{ext}"))
    }

    /// The model file of a transfer run.
    pub fn model_path(&self) -> PathBuf {
        self.dir.join("model.mer")
    }

    fn done_path(&self) -> PathBuf {
        self.dir.join("done.json")
    }

    pub fn log(&self, line: &str) {
        eprintln!("{line}");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
        {
            let _ = writeln!(f, "{line}");
        }
    }

    pub fn done(&self) -> bool {
        self.done_path().exists()
    }

    pub fn finish(&self, summary: &serde_json::Value) -> Result<()> {
        write_atomic(
            &self.done_path(),
            serde_json::to_string_pretty(summary)?.as_bytes(),
        )
    }

    /// The configuration of a finished run. `kind` names the run in the errors
    /// ("pretraining", "transfer"), `phase` what has to have finished.
    pub fn finished_config<C: DeserializeOwned>(&self, kind: &str, phase: &str) -> Result<C> {
        let dir = &self.dir;
        let cfg_path = self.config_path();
        let cfg = serde_json::from_slice(
            &std::fs::read(&cfg_path)
                .with_context(|| format!("{}: not a {kind} run", dir.display()))?,
        )
        .with_context(|| format!("{}: not a {kind} run", cfg_path.display()))?;
        if !self.done() {
            bail!(
                "{}: {phase} has not finished (rerun its command to resume it)",
                dir.display()
            );
        }
        Ok(cfg)
    }

    /// The record of a finished phase of the run, if it wrote one.
    pub fn phase_record(&self, phase: &str) -> Result<Option<PhaseRecord>> {
        let path = self.phase_path(phase);
        match std::fs::read(&path) {
            Ok(bytes) => {
                Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                    format!("{}: unreadable", path.display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("{}: unreadable", path.display())),
        }
    }

    pub fn write_phase_record(&self, record: &PhaseRecord) -> Result<()> {
        write_atomic(
            &self.phase_path(&record.phase),
            serde_json::to_string_pretty(record)?.as_bytes(),
        )
    }

    /// The split written in the run's folder.
    pub fn read_splits(&self) -> Result<SplitFile> {
        let path = self.splits_path();
        let bytes =
            std::fs::read(&path).with_context(|| format!("{}: unreadable", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{}: unreadable", path.display()))
    }

    pub fn write_splits(&self, f: &SplitFile) -> Result<()> {
        write_atomic(
            &self.splits_path(),
            serde_json::to_string_pretty(f)?.as_bytes(),
        )
    }

    /// `evaluation-<split>.json` and its Markdown.
    pub fn write_evaluation(&self, e: &Evaluation) -> Result<()> {
        write_atomic(
            &self.evaluation_path(&e.split, "json"),
            serde_json::to_string_pretty(e)?.as_bytes(),
        )?;
        write_atomic(
            &self.evaluation_path(&e.split, "md"),
            e.markdown().as_bytes(),
        )
    }

    pub fn read_evaluation(&self, split: &str) -> Result<Evaluation> {
        let path = self.evaluation_path(split, "json");
        serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("{}", path.display()))?,
        )
        .with_context(|| format!("{}: unreadable", path.display()))
    }

    /// Writes the best weights so far.
    pub fn save_best<M: Module>(&self, model: &M) -> Result<()> {
        write_atomic(&self.best_path(), &record_bytes(model)?)
    }

    /// `model` with the run's best weights.
    pub fn load_best<M: Module>(&self, model: M) -> Result<M> {
        load_record(model, &std::fs::read(self.best_path())?)
    }

    /// Appends one epoch's row to metrics.csv (rewritten atomically with all rows).
    pub fn metrics_row(&self, header: &str, row: &str, epoch_index: usize) -> Result<()> {
        let path = self.metrics_path();
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines: Vec<&str> = old.lines().collect();
        if lines.first() != Some(&header) {
            lines = vec![header];
        }
        // A resumed epoch replaces a row the killed run may have written.
        lines.truncate(1 + epoch_index);
        let mut text = lines.join("\n");
        text.push('\n');
        text.push_str(row);
        text.push('\n');
        write_atomic(&path, text.as_bytes())
    }

    pub fn metrics(&self) -> Result<MetricsCsv> {
        MetricsCsv::read(&self.metrics_path())
    }

    pub fn save_checkpoint<M: Module>(
        &self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &TrainState,
    ) -> Result<()> {
        let ck = self.checkpoint_dir();
        write_atomic(&ck.join("model.record"), &record_bytes(model)?)?;
        write_atomic(
            &ck.join("optimizer.record"),
            &optim.into_bytes().map_err(|e| anyhow::anyhow!("{e:?}"))?,
        )?;
        // The state goes last: it is what marks the checkpoint complete.
        write_atomic(
            &ck.join("state.json"),
            serde_json::to_string(state)?.as_bytes(),
        )
    }

    /// The last checkpoint, if any: loads model and optimizer in place.
    pub fn resume<M: Module>(
        &self,
        model: M,
        optim: ModuleOptimizer,
    ) -> Result<Option<(M, ModuleOptimizer, TrainState)>> {
        let ck = self.checkpoint_dir();
        let state_path = ck.join("state.json");
        if !state_path.exists() {
            return Ok(None);
        }
        let state: TrainState = serde_json::from_slice(&std::fs::read(&state_path)?)
            .with_context(|| format!("{}: unreadable", state_path.display()))?;
        let model = load_record(model, &std::fs::read(ck.join("model.record"))?)
            .with_context(|| format!("{}: checkpoint", self.dir.display()))?;
        let optim = optim
            .from_bytes(Bytes::from_bytes_vec(std::fs::read(
                ck.join("optimizer.record"),
            )?))
            .map_err(|e| anyhow::anyhow!("{}: optimizer checkpoint: {e:?}", self.dir.display()))?;
        Ok(Some((model, optim, state)))
    }

    pub fn clear_checkpoint(&self) {
        let _ = std::fs::remove_file(self.checkpoint_dir().join("state.json"));
    }
}

/// A run's metrics.csv as read back: its header and each epoch's values (NaN where a
/// value is missing or unreadable), phases laid end to end.
pub struct MetricsCsv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl MetricsCsv {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::to_string)
            .collect();
        let rows = lines
            .map(|l| {
                l.split(',')
                    .map(|x| x.parse().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        Ok(Self { header, rows })
    }

    /// The values of the column `name`, one per row; None without that column.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let c = self.header.iter().position(|h| h == name)?;
        Some(
            self.rows
                .iter()
                .map(|r| r.get(c).copied().unwrap_or(f64::NAN))
                .collect(),
        )
    }
}

pub fn record_bytes<M: Module>(model: &M) -> Result<Vec<u8>> {
    Ok(model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialise the model: {e:?}"))?
        .to_vec())
}

pub fn load_record<M: Module>(model: M, bytes: &[u8]) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| anyhow::anyhow!("unreadable weights: {e:?}"))?;
    model
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("weights do not fit the network: {e:?}"))
}
