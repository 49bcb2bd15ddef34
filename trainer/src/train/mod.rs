//! Training: pretraining (DAE / SCAE, CPC) and transfer (Feat. Ext., Full), with the run
//! folder, per-epoch checkpoints that make a killed run resume, and the learning-rate
//! rules of the original Keras code.
//!
//! burn 0.22's `Learner` is not used: it has no ReduceLROnPlateau nor Keras' per-iteration
//! `decay`, and resuming mid-grid across three networks is simpler with this small loop.
//! burn's own pieces do the rest: modules, Adam (AMSGrad), losses, records for checkpoints
//! (they keep the parameter ids, so Adam's state reattaches on resume).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Distribution};
use mer::Patches;
use mer::model::{CPC_FUTURE, CPC_PAST, Classifier, Cpc, Encoder, LATENT, RunningStats, Scae};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::progress_bar;
use crate::io::write_atomic;

/// Learning-rate rules of the original: Keras' `decay` (lr / (1 + decay * iterations))
/// times the factor ReduceLROnPlateau has reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schedule {
    pub lr: f64,
    pub decay: f64,
    pub plateau_factor: f64,
    pub plateau_patience: usize,
    pub early_stop_patience: usize,
}

/// Everything a resumed run needs besides the weights and the optimizer.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TrainState {
    /// Epochs completed in the current phase.
    pub epoch: usize,
    /// Optimizer steps so far (Keras' `iterations`, for the decay).
    pub iterations: u64,
    /// Multiplier from ReduceLROnPlateau.
    pub lr_factor: f64,
    pub plateau_best: f64,
    pub plateau_wait: usize,
    pub stop_best: f64,
    pub stop_wait: usize,
    /// Best checkpoint metric so far (lower is better) and its epoch.
    pub best: f64,
    pub best_epoch: usize,
    /// Transfer phase (0: frozen encoder, 1: fine-tuning everything).
    pub phase: usize,
    pub stopped_early: bool,
}

impl TrainState {
    fn fresh() -> Self {
        Self {
            lr_factor: 1.0,
            plateau_best: f64::INFINITY,
            stop_best: f64::INFINITY,
            best: f64::INFINITY,
            ..Default::default()
        }
    }

    fn lr(&self, s: &Schedule) -> f64 {
        s.lr * self.lr_factor / (1.0 + s.decay * self.iterations as f64)
    }

    /// Keras' ReduceLROnPlateau (factor 0.5) and EarlyStopping on the validation loss.
    /// Returns true when training should stop.
    fn end_epoch(&mut self, val_loss: f64, s: &Schedule) -> bool {
        const MIN_DELTA: f64 = 1e-4;
        if val_loss < self.plateau_best - MIN_DELTA {
            self.plateau_best = val_loss;
            self.plateau_wait = 0;
        } else {
            self.plateau_wait += 1;
            if self.plateau_wait >= s.plateau_patience {
                self.lr_factor *= 0.5;
                self.plateau_wait = 0;
            }
        }
        if val_loss < self.stop_best - MIN_DELTA {
            self.stop_best = val_loss;
            self.stop_wait = 0;
        } else {
            self.stop_wait += 1;
        }
        self.stopped_early = self.stop_wait >= s.early_stop_patience;
        self.stopped_early
    }
}

/// The names of the training phases: in the log, in `RUN/phase-<name>.json` and in a
/// model file's schedule.
pub mod phase {
    pub const DAE: &str = "dae";
    pub const CPC: &str = "cpc";
    pub const FEAT_EXT: &str = "feat-ext";
    pub const FULL: &str = "full";
}

/// What one training phase did, written to `RUN/phase-<name>.json` when it ends and copied
/// into the model file: how long it trained and which epoch's weights it kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhaseRecord {
    /// One of [`phase`]'s names.
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

/// A run folder: config.json, log.txt, metrics.csv, checkpoint/, best.record, done.json,
/// phase-<name>.json.
pub struct Run {
    pub dir: PathBuf,
}

impl Run {
    /// Opens (or creates) a run folder for `config`. An existing folder must hold the same
    /// configuration (epochs aside), so that a rerun resumes the same run.
    pub fn open<C: Serialize>(dir: &Path, config: &C) -> Result<Self> {
        std::fs::create_dir_all(dir.join("checkpoint"))
            .with_context(|| format!("{}: cannot create the run folder", dir.display()))?;
        let mut json = serde_json::to_value(config)?;
        let path = dir.join("config.json");
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
        if !dir.join("done.json").exists() {
            write_atomic(&path, serde_json::to_string_pretty(config)?.as_bytes())?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn log(&self, line: &str) {
        eprintln!("{line}");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log.txt"))
        {
            let _ = writeln!(f, "{line}");
        }
    }

    pub fn done(&self) -> bool {
        self.dir.join("done.json").exists()
    }

    pub fn finish(&self, summary: &serde_json::Value) -> Result<()> {
        write_atomic(
            &self.dir.join("done.json"),
            serde_json::to_string_pretty(summary)?.as_bytes(),
        )
    }

    /// Appends one epoch's row to metrics.csv (rewritten atomically with all rows).
    fn metrics_row(&self, header: &str, row: &str, epoch_index: usize) -> Result<()> {
        let path = self.dir.join("metrics.csv");
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

    fn save_checkpoint<M: Module>(
        &self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &TrainState,
    ) -> Result<()> {
        let ck = self.dir.join("checkpoint");
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
    fn resume<M: Module>(
        &self,
        model: M,
        optim: ModuleOptimizer,
    ) -> Result<Option<(M, ModuleOptimizer, TrainState)>> {
        let ck = self.dir.join("checkpoint");
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

    fn clear_checkpoint(&self) {
        let _ = std::fs::remove_file(self.dir.join("checkpoint/state.json"));
    }

    pub fn best_path(&self) -> PathBuf {
        self.dir.join("best.record")
    }

    pub fn phase_path(dir: &Path, phase: &str) -> PathBuf {
        dir.join(format!("phase-{phase}.json"))
    }

    /// The record of a finished phase of the run in `dir`, if it wrote one.
    pub fn phase_record(dir: &Path, phase: &str) -> Result<Option<PhaseRecord>> {
        let path = Self::phase_path(dir, phase);
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

/// Rows `idx` (of `per` values each) of a flat buffer, in that order: a batch's data.
fn gather_rows(data: &[f32], per: usize, idx: &[usize]) -> Vec<f32> {
    let mut v = Vec::with_capacity(idx.len() * per);
    for &i in idx {
        v.extend_from_slice(&data[i * per..(i + 1) * per]);
    }
    v
}

/// Patches of many files in one buffer, grouped by file.
pub struct PatchSet {
    pub data: Vec<f32>,
    /// Start patch of each file, and one past the last.
    pub offsets: Vec<usize>,
    pub per: usize,
}

impl PatchSet {
    pub fn new(files: Vec<Patches>) -> Self {
        let per = mer::model::PATCH_VALUES;
        let mut offsets = vec![0];
        let mut data = Vec::with_capacity(files.iter().map(|p| p.data.len()).sum());
        for p in files {
            debug_assert_eq!(p.n_mels * p.frames, per);
            data.extend_from_slice(&p.data);
            offsets.push(offsets.last().copied().unwrap_or(0) + p.n);
        }
        Self { data, offsets, per }
    }

    pub fn len(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn files(&self) -> usize {
        self.offsets.len() - 1
    }

    /// A batch tensor [b, 1, 128, 31] of the given patches.
    pub fn batch(&self, idx: &[usize], device: &Device) -> Tensor<4> {
        let v = gather_rows(&self.data, self.per, idx);
        let [mels, frames] = mer::model::PATCH;
        Tensor::from_data(TensorData::new(v, [idx.len(), 1, mels, frames]), device)
    }

    /// A seeded random split of the files: (train, validation) patch sets.
    pub fn split_files(self, val_frac: f64, seed: u64) -> (PatchSet, PatchSet) {
        let mut order: Vec<usize> = (0..self.files()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let n_val = ((self.files() as f64 * val_frac).round() as usize).clamp(
            usize::from(self.files() >= 2),
            self.files().saturating_sub(1),
        );
        let take = |files: &[usize]| {
            let mut sorted = files.to_vec();
            sorted.sort_unstable();
            PatchSet::new(
                sorted
                    .iter()
                    .map(|&f| {
                        let (a, b) = (self.offsets[f], self.offsets[f + 1]);
                        Patches {
                            n: b - a,
                            n_mels: 128,
                            frames: 31,
                            data: self.data[a * self.per..b * self.per].to_vec(),
                        }
                    })
                    .collect(),
            )
        };
        (take(&order[n_val..]), take(&order[..n_val]))
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

fn epoch_rng(seed: u64, phase: usize, epoch: usize) -> StdRng {
    StdRng::seed_from_u64(
        seed ^ ((phase as u64) << 48) ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// Options shared by every training command.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    /// Patches (or CPC windows) drawn per epoch; all when None.
    pub epoch_samples: Option<usize>,
    /// Autodiff devices. The first holds the model; with several, each batch is split
    /// between them and their gradients are summed by burn's `step_multi` (data parallel).
    pub devices: Vec<Device>,
}

/// The per-epoch skeleton shared by every network: resume, train, settle, validate,
/// schedule, checkpoint, keep the best. `step` trains on one batch and returns its loss;
/// `settle` prepares the trained model for inference (pretraining re-estimates BatchNorm
/// statistics there); `validate` returns (validation loss, checkpoint metric to minimise,
/// extra CSV columns). Writes the phase's [`PhaseRecord`] when it ends.
#[allow(clippy::too_many_arguments)]
fn fit<M, S, T, V>(
    run: &Run,
    what: &str,
    mut model: M,
    mut optim: ModuleOptimizer,
    schedule: &Schedule,
    opts: &LoopOptions,
    n_samples: usize,
    phase: usize,
    csv_header: &str,
    initial_best: f64,
    mut step: S,
    mut settle: T,
    mut validate: V,
) -> Result<(M, TrainState)>
where
    M: Module,
    S: FnMut(&M, &[usize], &Device) -> Result<Option<Tensor<1>>>,
    T: FnMut(M) -> Result<M>,
    V: FnMut(&M) -> Result<(f64, f64, String)>,
{
    let mut state = TrainState::fresh();
    state.phase = phase;
    state.best = initial_best;
    if let Some((m, o, s)) = run.resume(model.clone(), optim.clone())?
        && s.phase == phase
    {
        run.log(&format!(
            "{what}: resuming after epoch {} (best {:.4} at epoch {})",
            s.epoch, s.best, s.best_epoch
        ));
        model = m;
        optim = o;
        state = s;
    }
    let per_epoch = opts
        .epoch_samples
        .unwrap_or(n_samples)
        .min(n_samples)
        .max(1);
    while state.epoch < opts.epochs && !state.stopped_early {
        let epoch = state.epoch;
        let mut rng = epoch_rng(opts.seed, phase, epoch);
        let mut order: Vec<usize> = (0..n_samples).collect();
        order.shuffle(&mut rng);
        order.truncate(per_epoch);
        model
            .devices()
            .first()
            .inspect(|d| d.seed(opts.seed.wrapping_add(epoch as u64)));
        let pb = progress_bar(
            order.len() as u64,
            &format!("{what} epoch {}/{}", epoch + 1, opts.epochs),
        );
        let started = std::time::Instant::now();
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(opts.batch.max(1)) {
            let lr = state.lr(schedule);
            let (m, loss) = train_step(model, &mut optim, chunk, lr, &opts.devices, &mut step)?;
            model = m;
            let Some(loss) = loss else { continue };
            if !loss.is_finite() {
                bail!(
                    "{what}: the training loss became {loss} at epoch {}",
                    epoch + 1
                );
            }
            state.iterations += 1;
            loss_sum += loss;
            batches += 1;
            pb.inc(chunk.len() as u64);
        }
        pb.finish_and_clear();
        let train_loss = loss_sum / batches.max(1) as f64;
        model = settle(model)?;
        let (val_loss, metric, extra) = validate(&model)?;
        let lr = state.lr(schedule);
        state.epoch += 1;
        let improved = metric < state.best;
        if improved {
            state.best = metric;
            state.best_epoch = state.epoch;
            write_atomic(&run.best_path(), &record_bytes(&model)?)?;
        }
        let stop = state.end_epoch(val_loss, schedule);
        let secs = started.elapsed().as_secs_f64();
        run.metrics_row(
            csv_header,
            &format!(
                "{phase},{},{train_loss:.6},{val_loss:.6},{extra}{lr:.3e},{secs:.1}",
                state.epoch,
                extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!("{extra},")
                }
            ),
            // Rows of earlier phases stay; the index counts rows before this one.
            state.epoch - 1 + phase_offset(run, phase),
        )?;
        run.log(&format!(
            "{what} epoch {}/{}: train loss {train_loss:.4}, val loss {val_loss:.4}, {extra_named}lr {lr:.2e}, {secs:.1} s{}",
            state.epoch,
            opts.epochs,
            if improved { " (best)" } else { "" },
            extra_named = name_columns(csv_header, &extra),
        ));
        run.save_checkpoint(&model, &optim, &state)?;
        if stop {
            run.log(&format!("{what}: early stop after epoch {}", state.epoch));
        }
    }
    let record = PhaseRecord {
        phase: what.to_string(),
        epochs_run: state.epoch,
        epochs_max: opts.epochs,
        samples_per_epoch: per_epoch,
        samples: n_samples,
        batch: opts.batch,
        optimizer_steps: state.iterations,
        best_epoch: state.best_epoch,
        best_metric: state.best.is_finite().then_some(state.best),
        stopped_early: state.stopped_early,
    };
    write_atomic(
        &Run::phase_path(&run.dir, what),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    Ok((model, state))
}

/// Patches drawn (seeded, the same each time) to re-estimate BatchNorm statistics.
const NORM_PATCHES: usize = 1024;

/// Re-estimates every BatchNorm's running statistics of a network in training over
/// `set` (as PyTorch's `update_bn`): batch statistics with dropout off, averaged over the
/// batches (weighted by their sizes), then Keras' momentum and dropout again. Pretraining
/// normalises with batch statistics, but transfer and validation run the encoder in
/// inference mode on the running ones, which Keras' momentum (0.01) leaves near their
/// initial values after a short pretraining.
fn reestimate_norms<M: Module + RunningStats>(
    mut model: M,
    set: &PatchSet,
    seed: u64,
    forward: impl Fn(&M, Tensor<4>),
) -> M {
    let device = model.devices()[0].clone();
    let mut idx: Vec<usize> = (0..set.len()).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed ^ 0xB47C_4E0B));
    idx.truncate(NORM_PATCHES);
    let mut seen = 0usize;
    for chunk in idx.chunks(64) {
        seen += chunk.len();
        model = model.with_stats_mode(chunk.len() as f64 / seen as f64, 0.0);
        forward(&model, set.batch(chunk, &device));
    }
    model.with_training_mode()
}

/// One optimizer step on a batch: on one device, or split across several with the
/// gradients summed (each part's loss weighted by its share of the batch). The model comes
/// back on the first device.
fn train_step<M, S>(
    model: M,
    optim: &mut ModuleOptimizer,
    chunk: &[usize],
    lr: f64,
    devices: &[Device],
    loss_of: &mut S,
) -> Result<(M, Option<f64>)>
where
    M: Module,
    S: FnMut(&M, &[usize], &Device) -> Result<Option<Tensor<1>>>,
{
    let primary = devices.first().context("no training device")?;
    if devices.len() == 1 {
        let Some(loss) = loss_of(&model, chunk, primary)? else {
            return Ok((model, None));
        };
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let value = scalar(loss);
        return Ok((optim.step(lr, model, grads), Some(value)));
    }
    let per = chunk.len().div_ceil(devices.len());
    let (mut grads, mut losses) = (Vec::new(), Vec::new());
    for (part, device) in chunk.chunks(per).zip(devices) {
        let replica = model.clone().fork(device);
        let Some(loss) = loss_of(&replica, part, device)? else {
            continue;
        };
        let loss = loss.mul_scalar(part.len() as f64 / chunk.len() as f64);
        grads.push((
            GradientsParams::from_grads(loss.backward(), &replica),
            device.clone(),
        ));
        losses.push(loss);
    }
    if grads.is_empty() {
        return Ok((model, None));
    }
    let value = losses.into_iter().map(scalar).sum();
    let model = optim.step_multi(lr, model, MultiGradientsParams { grads });
    // step_multi leaves each parameter on the device that accumulated its gradient.
    Ok((model.fork(primary), Some(value)))
}

/// Rows of metrics.csv written by earlier phases of the same run.
fn phase_offset(run: &Run, phase: usize) -> usize {
    if phase == 0 {
        return 0;
    }
    std::fs::read_to_string(run.dir.join("metrics.csv"))
        .map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| {
                    l.split(',')
                        .next()
                        .and_then(|p| p.parse::<usize>().ok())
                        .is_some_and(|p| p < phase)
                })
                .count()
        })
        .unwrap_or(0)
}

fn name_columns(header: &str, extra: &str) -> String {
    if extra.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = header.split(',').skip(4).collect();
    extra
        .split(',')
        .zip(names)
        .map(|(v, n)| format!("{n} {v}, "))
        .collect::<String>()
}

fn adam() -> ModuleOptimizer {
    // Keras' Adam: epsilon 1e-7; AMSGrad as the original's compile call.
    AdamConfig::new()
        .with_amsgrad(true)
        .with_epsilon(1e-7)
        .init()
}

/// DAE target: the clean patch rescaled to [0, 1] per patch. The original decoder ends in a
/// sigmoid, which cannot output log-mel values (about -16 to +5), so the reconstruction
/// target is the patch min-max scaled; the encoder still sees raw log-mel patches, as in
/// transfer and inference.
fn unit_scaled(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let flat = x.reshape([b, c * h * w]);
    let min = flat.clone().min_dim(1);
    let max = flat.clone().max_dim(1);
    let range = (max - min.clone()).add_scalar(1e-6);
    ((flat - min) / range).reshape([b, c, h, w])
}

/// SCAE (DAE) pretraining: input = patch + 0.3 N(0, 1), target = the clean patch.
pub fn pretrain_dae(
    run: &Run,
    train: &PatchSet,
    val: &PatchSet,
    device: &Device,
    schedule: &Schedule,
    opts: &LoopOptions,
) -> Result<Scae> {
    let model = Scae::new(device);
    let optim = adam();
    let noise = 0.3;
    let val_device = device.clone().without_autodiff();
    let header = "phase,epoch,train_loss,val_loss,lr,seconds";
    fit(
        run,
        phase::DAE,
        model,
        optim,
        schedule,
        opts,
        train.len(),
        0,
        header,
        f64::INFINITY,
        |model: &Scae, idx, device| {
            let x = train.batch(idx, device);
            let noisy = x.clone()
                + x.random_like(Distribution::Normal(0.0, 1.0))
                    .mul_scalar(noise);
            let target = unit_scaled(x).detach();
            Ok(Some(MseLoss::new().forward(
                model.forward(noisy),
                target,
                Reduction::Mean,
            )))
        },
        |model: Scae| {
            Ok(reestimate_norms(model, train, opts.seed, |m, x| {
                m.forward(x);
            }))
        },
        |model: &Scae| {
            let eval = model.valid();
            val_device.seed(opts.seed ^ 0x5EED);
            let mut sum = 0.0;
            let mut n = 0usize;
            let idx: Vec<usize> = (0..val.len()).collect();
            for chunk in idx.chunks(64) {
                let x = val.batch(chunk, &val_device);
                let noisy = x.clone()
                    + x.random_like(Distribution::Normal(0.0, 1.0))
                        .mul_scalar(noise);
                let loss =
                    MseLoss::new().forward(eval.forward(noisy), unit_scaled(x), Reduction::Mean);
                sum += scalar(loss) * chunk.len() as f64;
                n += chunk.len();
            }
            let l = sum / n.max(1) as f64;
            Ok((l, l, String::new()))
        },
    )
    .map(|(m, _)| m.valid())
}

/// CPC objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CpcObjective {
    /// The original's binary task, with sound negatives: the future patches of another
    /// window (another position or utterance), never a permutation of the true ones.
    Binary,
    /// InfoNCE (van den Oord et al. 2018): each window's true future against the other
    /// windows' futures in the batch, at the same step.
    Infonce,
}

/// Windows of past + future consecutive patches inside one utterance.
pub(crate) fn cpc_windows(set: &PatchSet) -> Vec<usize> {
    let span = CPC_PAST + CPC_FUTURE;
    let mut starts = Vec::new();
    for f in 0..set.files() {
        let (a, b) = (set.offsets[f], set.offsets[f + 1]);
        if b - a >= span {
            starts.extend(a..=b - span);
        }
    }
    starts
}

/// Validation windows of the CPC: at most this many, drawn once (seeded) and the same in
/// every epoch.
const CPC_VAL_WINDOWS: usize = 1024;

/// The CPC's validation windows in a seeded order fixed across epochs: batches mix
/// utterances as training batches do, so every window finds negatives in other utterances
/// (in their stored order, the windows of a batch are neighbours in one utterance).
pub(crate) fn cpc_validation_windows(val: &PatchSet, seed: u64) -> Vec<usize> {
    let mut windows = cpc_windows(val);
    windows.shuffle(&mut StdRng::seed_from_u64(seed ^ 0xC0C_5A1D));
    windows.truncate(CPC_VAL_WINDOWS);
    windows
}

/// The utterance of each window of a batch.
fn utterances(set: &PatchSet, starts: &[usize]) -> Vec<usize> {
    starts
        .iter()
        .map(|&s| set.offsets.partition_point(|&o| o <= s) - 1)
        .collect()
}

/// The binary objective's pairs (row, row whose future is scored against it): even rows
/// with their own future (label 1), odd rows with the future of the next row from another
/// utterance (label 0). A window of the same utterance is never a negative: its future may
/// be the true one shifted by a patch or share patches with it. Odd rows with no other
/// utterance in the batch are left out.
pub(crate) fn cpc_binary_pairs(utterance: &[usize]) -> Vec<(usize, usize)> {
    let b = utterance.len();
    (0..b)
        .filter_map(|i| {
            if i % 2 == 0 {
                return Some((i, i));
            }
            (1..b)
                .map(|k| (i + k) % b)
                .find(|&j| utterance[j] != utterance[i])
                .map(|j| (i, j))
        })
        .collect()
}

/// InfoNCE's additive mask [b, b] (row-major): 0 where column j may be scored against row
/// i (its own future, or a window of another utterance), -1e9 elsewhere.
pub(crate) fn cpc_infonce_mask(utterance: &[usize]) -> Vec<f32> {
    let b = utterance.len();
    let mut mask = vec![0f32; b * b];
    for i in 0..b {
        for j in 0..b {
            if i != j && utterance[i] == utterance[j] {
                mask[i * b + j] = -1e9;
            }
        }
    }
    mask
}

/// Loss and accuracy of a batch of CPC windows.
fn cpc_batch(
    model: &Cpc,
    set: &PatchSet,
    starts: &[usize],
    objective: CpcObjective,
    device: &Device,
) -> (Tensor<1>, f64) {
    let b = starts.len();
    let span = CPC_PAST + CPC_FUTURE;
    let idx: Vec<usize> = starts.iter().flat_map(|&s| s..s + span).collect();
    let codes = model
        .encode(set.batch(&idx, device))
        .reshape([b, span, mer::model::CPC_CODE]);
    let past = codes
        .clone()
        .slice([0..b, 0..CPC_PAST, 0..mer::model::CPC_CODE]);
    let future = codes.slice([0..b, CPC_PAST..span, 0..mer::model::CPC_CODE]);
    let pred = model.predict(model.context(past));
    let utterance = utterances(set, starts);
    match objective {
        CpcObjective::Binary => {
            let pairs = cpc_binary_pairs(&utterance);
            let n = pairs.len();
            let rows: Vec<i64> = pairs.iter().map(|p| p.0 as i64).collect();
            let partner: Vec<i64> = pairs.iter().map(|p| p.1 as i64).collect();
            let labels: Vec<i64> = pairs.iter().map(|p| i64::from(p.0 == p.1)).collect();
            let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), device);
            let partner = Tensor::<1, Int>::from_data(TensorData::new(partner, [n]), device);
            let target = future.select(0, partner);
            let logits = (pred.select(0, rows) * target)
                .mean_dim(2)
                .mean_dim(1)
                .reshape([n]);
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [n]), device);
            let loss = BinaryCrossEntropyLossConfig::new()
                .with_logits(true)
                .init(device)
                .forward(logits.clone(), y);
            let l: Vec<f32> = logits.into_data().try_into_vec().unwrap_or_default();
            let correct = l
                .iter()
                .zip(&labels)
                .filter(|(x, y)| (**x > 0.0) == (**y == 1))
                .count();
            (loss, correct as f64 / n.max(1) as f64)
        }
        CpcObjective::Infonce => {
            let targets = Tensor::<1, Int>::arange(0..b as i64, device);
            let mask = Tensor::<2>::from_data(
                TensorData::new(cpc_infonce_mask(&utterance), [b, b]),
                device,
            );
            let mut loss_sum: Option<Tensor<1>> = None;
            let mut correct = 0usize;
            for k in 0..CPC_FUTURE {
                let p = pred
                    .clone()
                    .slice([0..b, k..k + 1, 0..mer::model::CPC_CODE])
                    .reshape([b, mer::model::CPC_CODE]);
                let z = future
                    .clone()
                    .slice([0..b, k..k + 1, 0..mer::model::CPC_CODE])
                    .reshape([b, mer::model::CPC_CODE]);
                let logits = p.matmul(z.transpose()) + mask.clone();
                let ce = CrossEntropyLossConfig::new()
                    .init(device)
                    .forward(logits.clone(), targets.clone());
                let arg: Vec<i64> = logits
                    .argmax(1)
                    .reshape([b])
                    .into_data()
                    .try_into_vec_as::<i64>()
                    .unwrap_or_default();
                correct += arg
                    .iter()
                    .enumerate()
                    .filter(|(i, a)| *i as i64 == **a)
                    .count();
                loss_sum = Some(match loss_sum {
                    Some(s) => s + ce,
                    None => ce,
                });
            }
            let loss = loss_sum
                .expect("two future steps")
                .div_scalar(CPC_FUTURE as f64);
            (loss, correct as f64 / (b * CPC_FUTURE) as f64)
        }
    }
}

/// CPC pretraining: 4 past patches -> GRU context -> predicted codes of the next 2.
pub fn pretrain_cpc(
    run: &Run,
    train: &PatchSet,
    val: &PatchSet,
    objective: CpcObjective,
    device: &Device,
    schedule: &Schedule,
    opts: &LoopOptions,
) -> Result<Cpc> {
    let train_windows = cpc_windows(train);
    let val_windows = cpc_validation_windows(val, opts.seed);
    if train_windows.len() < 2 || val_windows.len() < 2 {
        bail!(
            "CPC needs utterances of at least {} patches ({:.1} s): {} training and {} validation windows found",
            CPC_PAST + CPC_FUTURE,
            (CPC_PAST + CPC_FUTURE - 1) as f64 * 0.48 + 0.99,
            train_windows.len(),
            val_windows.len()
        );
    }
    let model = Cpc::new(device);
    let optim = adam();
    let val_device = device.clone().without_autodiff();
    let header = "phase,epoch,train_loss,val_loss,val_accuracy,lr,seconds";
    let batch = opts.batch.max(2);
    fit(
        run,
        phase::CPC,
        model,
        optim,
        schedule,
        &LoopOptions {
            batch,
            ..opts.clone()
        },
        train_windows.len(),
        0,
        header,
        f64::INFINITY,
        |model: &Cpc, idx, device| {
            if idx.len() < 2 {
                return Ok(None);
            }
            let starts: Vec<usize> = idx.iter().map(|&i| train_windows[i]).collect();
            Ok(Some(cpc_batch(model, train, &starts, objective, device).0))
        },
        |model: Cpc| {
            Ok(reestimate_norms(model, train, opts.seed, |m, x| {
                m.encode(x);
            }))
        },
        |model: &Cpc| {
            let eval = model.valid();
            let (mut loss, mut acc, mut n) = (0.0, 0.0, 0usize);
            for chunk in val_windows.chunks(batch) {
                if chunk.len() < 2 {
                    continue;
                }
                let (l, a) = cpc_batch(&eval, val, chunk, objective, &val_device);
                loss += scalar(l) * chunk.len() as f64;
                acc += a * chunk.len() as f64;
                n += chunk.len();
            }
            let n = n.max(1) as f64;
            Ok((loss / n, loss / n, format!("{:.4}", acc / n)))
        },
    )
    .map(|(m, _)| m.valid())
}

/// Labels of every patch of a music set: (quadrant, arousal, valence) class indices.
#[derive(Debug, Clone)]
pub struct PatchLabels {
    pub quadrant: Vec<usize>,
    pub arousal: Vec<usize>,
    pub valence: Vec<usize>,
}

/// scikit-learn's "balanced" class weights: n / (classes * count); absent classes get 1.
pub fn balanced_weights(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l] += 1;
    }
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                1.0
            } else {
                labels.len() as f32 / (classes * c) as f32
            }
        })
        .collect()
}

fn int_tensor(v: &[usize], idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = idx.iter().map(|&i| v[i] as i64).collect();
    Tensor::from_data(TensorData::new(data, [idx.len()]), device)
}

/// Class-weighted cross-entropies of the three tasks (weights from the training labels).
struct TaskLoss {
    quadrant: Vec<f32>,
    arousal: Vec<f32>,
    valence: Vec<f32>,
}

impl TaskLoss {
    fn new(labels: &PatchLabels) -> Self {
        Self {
            quadrant: balanced_weights(&labels.quadrant, 4),
            arousal: balanced_weights(&labels.arousal, 2),
            valence: balanced_weights(&labels.valence, 2),
        }
    }

    /// The summed loss of the three heads and the quadrant logits.
    fn forward(
        &self,
        out: mer::model::ClassifierOutput,
        labels: &PatchLabels,
        idx: &[usize],
        device: &Device,
    ) -> (Tensor<1>, Tensor<2>) {
        let ce = |w: &[f32], logits: Tensor<2>, y: &[usize]| {
            CrossEntropyLossConfig::new()
                .with_weights(Some(w.to_vec()))
                .init(device)
                .forward(logits, int_tensor(y, idx, device))
        };
        let q = ce(&self.quadrant, out.quadrant.clone(), &labels.quadrant);
        let a = ce(&self.arousal, out.arousal, &labels.arousal);
        let v = ce(&self.valence, out.valence, &labels.valence);
        (q + a + v, out.quadrant)
    }
}

/// The frozen encoder's flattened outputs of every patch of a set, computed once: Feat.
/// Ext. trains the dense layers alone, so its epochs need not run the encoder again. A
/// set may be a selection of another's rows (the folds of a cross-validation share one
/// computation).
#[derive(Clone)]
pub struct LatentSet {
    data: std::sync::Arc<Vec<f32>>,
    /// Rows of `data` in this set's order; all of them, in order, when None.
    rows: Option<Vec<usize>>,
}

impl LatentSet {
    /// `encoder` in inference mode on a device without autodiff.
    pub fn new(encoder: &Encoder, set: &PatchSet, device: &Device, what: &str) -> Result<Self> {
        let mut data = Vec::with_capacity(set.len() * LATENT);
        let idx: Vec<usize> = (0..set.len()).collect();
        let pb = progress_bar(idx.len() as u64, &format!("encoder outputs, {what}"));
        for chunk in idx.chunks(64) {
            let h = encoder.forward_flat(set.batch(chunk, device));
            data.extend(
                h.into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?,
            );
            pb.inc(chunk.len() as u64);
        }
        pb.finish_and_clear();
        Ok(Self {
            data: std::sync::Arc::new(data),
            rows: None,
        })
    }

    /// The set of the given rows of this one, in that order, sharing its data.
    pub fn select(&self, rows: &[usize]) -> Self {
        let rows = match &self.rows {
            Some(mine) => rows.iter().map(|&r| mine[r]).collect(),
            None => rows.to_vec(),
        };
        Self {
            data: self.data.clone(),
            rows: Some(rows),
        }
    }

    /// A batch [b, 7936] of the given patches' encoder outputs.
    pub fn batch(&self, idx: &[usize], device: &Device) -> Tensor<2> {
        let v = match &self.rows {
            Some(rows) => {
                let mapped: Vec<usize> = idx.iter().map(|&i| rows[i]).collect();
                gather_rows(&self.data, LATENT, &mapped)
            }
            None => gather_rows(&self.data, LATENT, idx),
        };
        Tensor::from_data(TensorData::new(v, [idx.len(), LATENT]), device)
    }
}

/// Validation of a classifier: (loss, checkpoint metric, quadrant accuracy column) over
/// the validation patches, whose outputs `outputs` gives for a chunk of indices; the loss
/// weighs the classes by the validation labels' balance (`loss_fn`).
fn validate_classifier(
    n: usize,
    labels: &PatchLabels,
    loss_fn: &TaskLoss,
    device: &Device,
    mut outputs: impl FnMut(&[usize]) -> mer::model::ClassifierOutput,
) -> Result<(f64, f64, String)> {
    let (mut sum, mut correct) = (0.0, 0usize);
    let idx: Vec<usize> = (0..n).collect();
    for chunk in idx.chunks(128) {
        let (l, q) = loss_fn.forward(outputs(chunk), labels, chunk, device);
        sum += scalar(l) * chunk.len() as f64;
        let pred: Vec<i64> = q
            .argmax(1)
            .reshape([chunk.len()])
            .into_data()
            .try_into_vec_as::<i64>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        correct += chunk
            .iter()
            .zip(&pred)
            .filter(|(i, p)| labels.quadrant[**i] as i64 == **p)
            .count();
    }
    let acc = correct as f64 / n.max(1) as f64;
    let loss = sum / n.max(1) as f64;
    // Minimise: the negative accuracy (ties broken by the loss).
    Ok((loss, -acc + 1e-6 * loss, format!("{acc:.4}")))
}

/// In a transfer run folder, the mark of a finished frozen phase (its best metric).
pub const FROZEN_PHASE_DONE: &str = "checkpoint/phase0.json";

/// Transfer settings (the original code's values by default; docs/METHOD.md, "Transfer").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferSchedules {
    pub feat_ext: Schedule,
    pub full: Schedule,
}

/// Transfer to the multi-task classifier. Feat. Ext.: encoder frozen (weights, BatchNorm
/// statistics and dropout), the dense layers trained on the encoder's outputs computed
/// once. Full: after that phase, every weight trained further at the lower learning rate
/// from the frozen phase's best checkpoint. Checkpoint: the best validation quadrant
/// accuracy (patches).
#[allow(clippy::too_many_arguments)]
pub fn transfer(
    run: &Run,
    encoder: Encoder,
    train: (&PatchSet, &PatchLabels),
    val: (&PatchSet, &PatchLabels),
    full: bool,
    device: &Device,
    schedules: &TransferSchedules,
    (opts, full_opts): (&LoopOptions, &LoopOptions),
    latents: Option<(LatentSet, LatentSet)>,
) -> Result<Classifier> {
    let header = "phase,epoch,train_loss,val_loss,val_quadrant_accuracy,lr,seconds";
    let loss = TaskLoss::new(train.1);
    let val_loss = TaskLoss::new(val.1);
    let val_device = device.clone().without_autodiff();
    let mut model = Classifier::with_encoder(encoder, device);
    model.encoder = model.encoder.freeze();
    // Marks the end of the frozen phase and holds its best metric.
    let phase0_done = run.dir.join(FROZEN_PHASE_DONE);
    let phase0_best: f64 = match std::fs::read(&phase0_done) {
        Ok(b) => serde_json::from_slice(&b)?,
        Err(_) => {
            let (train_latents, val_latents) = match latents {
                Some(given) => given,
                None => {
                    let frozen = model.encoder.valid();
                    (
                        LatentSet::new(&frozen, train.0, &val_device, "train")?,
                        LatentSet::new(&frozen, val.0, &val_device, "validation")?,
                    )
                }
            };
            let (m, state) = fit(
                run,
                phase::FEAT_EXT,
                model,
                adam(),
                &schedules.feat_ext,
                opts,
                train.0.len(),
                0,
                header,
                f64::INFINITY,
                |model: &Classifier, idx: &[usize], device: &Device| {
                    let out = model.forward_latent(train_latents.batch(idx, device));
                    Ok(Some(loss.forward(out, train.1, idx, device).0))
                },
                Ok,
                |model: &Classifier| {
                    let eval = model.valid();
                    validate_classifier(val.0.len(), val.1, &val_loss, &val_device, |chunk| {
                        eval.forward_latent(val_latents.batch(chunk, &val_device))
                    })
                },
            )?;
            model = m;
            write_atomic(&phase0_done, serde_json::to_string(&state.best)?.as_bytes())?;
            state.best
        }
    };
    if full {
        // Phase 2 starts from the best frozen-encoder checkpoint with every weight trained,
        // and keeps the best of phase 1 as the bar to beat. The encoder's BatchNorm and
        // dropout stay in inference mode, as in the frozen phase (Keras' advice for
        // fine-tuning): switching its BatchNorm to batch statistics would change the
        // features under the head trained on running statistics. Measured on the demo
        // corpora with `unfreeze()` instead: the first fine-tuning epoch's training loss
        // went from 2.1 to 9.0 and validation accuracy from 0.49 to 0.27.
        let best = std::fs::read(run.best_path())?;
        let mut released = load_record(Classifier::new(device), &best)?;
        released.encoder = released.encoder.freeze().set_require_grad(true);
        model = fit(
            run,
            phase::FULL,
            released,
            adam(),
            &schedules.full,
            full_opts,
            train.0.len(),
            1,
            header,
            phase0_best,
            |model: &Classifier, idx: &[usize], device: &Device| {
                let out = model.forward(train.0.batch(idx, device));
                Ok(Some(loss.forward(out, train.1, idx, device).0))
            },
            Ok,
            |model: &Classifier| {
                let eval = model.valid();
                validate_classifier(val.0.len(), val.1, &val_loss, &val_device, |chunk| {
                    eval.forward(val.0.batch(chunk, &val_device))
                })
            },
        )?
        .0;
    }
    drop(model);
    run.clear_checkpoint();
    let best = std::fs::read(run.best_path())?;
    Ok(load_record(Classifier::new(device), &best)?.valid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::store::ModuleSnapshot;

    /// A set of utterances with the given numbers of patches; patch i holds the value i.
    fn set_of(lengths: &[usize]) -> PatchSet {
        let mut next = 0usize;
        PatchSet::new(
            lengths
                .iter()
                .map(|&n| {
                    let data = (next..next + n)
                        .flat_map(|i| std::iter::repeat_n(i as f32, mer::model::PATCH_VALUES))
                        .collect();
                    next += n;
                    Patches {
                        n,
                        n_mels: 128,
                        frames: 31,
                        data,
                    }
                })
                .collect(),
        )
    }

    fn future(start: usize) -> std::ops::Range<usize> {
        start + CPC_PAST..start + CPC_PAST + CPC_FUTURE
    }

    /// Every negative of every row (both objectives) comes from another utterance, and so
    /// never shares a patch with the row's own future.
    fn assert_sound_negatives(set: &PatchSet, starts: &[usize]) -> usize {
        let utt = utterances(set, starts);
        let b = starts.len();
        let mut negatives = 0;
        for (i, j) in cpc_binary_pairs(&utt) {
            if i != j {
                negatives += 1;
                assert_ne!(utt[i], utt[j], "binary: a negative from the same utterance");
                let (a, b) = (future(starts[i]), future(starts[j]));
                assert!(a.end <= b.start || b.end <= a.start, "shares a patch");
            }
        }
        let mask = cpc_infonce_mask(&utt);
        for i in 0..b {
            assert_eq!(mask[i * b + i], 0.0, "the positive stays");
            for j in (0..b).filter(|&j| j != i && mask[i * b + j] == 0.0) {
                negatives += 1;
                assert_ne!(
                    utt[i], utt[j],
                    "infonce: a negative from the same utterance"
                );
                let (a, c) = (future(starts[i]), future(starts[j]));
                assert!(a.end <= c.start || c.end <= a.start, "shares a patch");
            }
        }
        negatives
    }

    #[test]
    fn cpc_negatives_never_come_from_the_same_utterance() {
        let set = set_of(&[20, 12, 9, 1, 30]);
        let windows = cpc_windows(&set);
        assert_eq!(windows.len(), 15 + 7 + 4 + 25);
        // The windows in their stored order, as validation used to walk them: a batch of
        // neighbours in one utterance has no negative at all (the next window's future is
        // the true one shifted by a patch), and one spanning two utterances only the other.
        for batch in [4, 8, 32] {
            for chunk in windows.chunks(batch) {
                assert_sound_negatives(&set, chunk);
            }
        }
        assert_eq!(assert_sound_negatives(&set, &windows[..8]), 0);
        // Validation: a fixed seeded order, the same every epoch, with negatives in it.
        let val = cpc_validation_windows(&set, 7);
        assert_eq!(val, cpc_validation_windows(&set, 7));
        assert_eq!(val.len(), windows.len());
        let negatives: usize = val.chunks(8).map(|c| assert_sound_negatives(&set, c)).sum();
        assert!(negatives > 0);
        // Training: the epoch's shuffled order, as `fit` draws it.
        for epoch in 0..3 {
            let mut order: Vec<usize> = (0..windows.len()).collect();
            order.shuffle(&mut epoch_rng(3, 0, epoch));
            let starts: Vec<usize> = order.iter().map(|&i| windows[i]).collect();
            for c in starts.chunks(8) {
                assert_sound_negatives(&set, c);
            }
        }
    }

    #[test]
    fn infonce_and_binary_cpc_run_and_backpropagate() {
        let device = Device::flex().autodiff();
        let set = set_of(&[10, 10, 10]);
        let model = Cpc::new(&device);
        let starts: Vec<usize> = cpc_windows(&set).into_iter().step_by(2).collect();
        for objective in [CpcObjective::Infonce, CpcObjective::Binary] {
            let (loss, acc) = cpc_batch(&model, &set, &starts, objective, &device);
            let value = scalar(loss.clone());
            assert!(value.is_finite() && value > 0.0, "{objective:?}: {value}");
            assert!((0.0..=1.0).contains(&acc));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            assert!(!grads.is_empty(), "{objective:?}: no gradients");
        }
    }

    #[test]
    fn class_weights_follow_the_balanced_formula() {
        // n / (classes * count): 6 labels, 3 classes, counts 3, 2, 1.
        let w = balanced_weights(&[0, 0, 0, 1, 1, 2], 3);
        let expect = [6.0 / 9.0, 6.0 / 6.0, 6.0 / 3.0];
        for (a, b) in w.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{w:?}");
        }
        // An absent class keeps weight 1.
        let w = balanced_weights(&[1, 1], 3);
        assert_eq!(w[0], 1.0);
        assert_eq!(w[2], 1.0);
        assert!((w[1] - 2.0 / 6.0).abs() < 1e-6, "{w:?}");
    }

    fn tensor_of(model: &impl ModuleSnapshot, name: &str) -> Vec<f32> {
        let t = model
            .collect(None, None, false)
            .into_iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"));
        t.to_bytes()
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    #[test]
    fn batch_norm_statistics_are_re_estimated_over_the_data() {
        let device = Device::flex().autodiff();
        // 100 patches (two batches of 64 and 36) of values 3 + 2 * noise.
        let mut seed = 11u64;
        let patches: Vec<Patches> = (0..4)
            .map(|_| Patches {
                n: 25,
                n_mels: 128,
                frames: 31,
                data: (0..25 * mer::model::PATCH_VALUES)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        3.0 + 2.0
                            * (((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
                            * 3f32.sqrt()
                    })
                    .collect(),
            })
            .collect();
        let mean = (patches
            .iter()
            .flat_map(|p| &p.data)
            .map(|&x| f64::from(x))
            .sum::<f64>()
            / (100 * mer::model::PATCH_VALUES) as f64) as f32;
        let set = PatchSet::new(patches);
        let encoder = Encoder::new(&device);
        assert_eq!(tensor_of(&encoder, "input_bn.running_mean"), vec![0.0]);
        let encoder = reestimate_norms(encoder, &set, 1, |m, x| {
            let _ = m.forward(x);
        });
        let rm = tensor_of(&encoder, "input_bn.running_mean")[0];
        let rv = tensor_of(&encoder, "input_bn.running_var")[0];
        // (burn reduces in f32 over 250 000 values per batch: about 1e-3 of rounding.)
        assert!((rm - mean).abs() < 1e-2, "running mean {rm} vs {mean}");
        assert!((rv - 4.0).abs() < 0.05, "running variance {rv} vs 4");
        // Deeper layers too: no statistic is left at its initial value.
        let deeper = tensor_of(&encoder, "block3.bn2.running_var");
        assert!(deeper.iter().all(|v| (v - 1.0).abs() > 1e-6), "{deeper:?}");
    }

    /// A deterministic network for the data-parallel check (no dropout, no BatchNorm: the
    /// batch statistics of a split batch differ from the whole batch's by design).
    #[derive(Module, Debug)]
    struct Probe {
        linear: burn::nn::Linear,
    }

    #[test]
    fn a_data_parallel_step_equals_the_single_device_step() {
        let base = Device::flex();
        base.seed(5);
        let model = Probe {
            linear: burn::nn::LinearConfig::new(mer::model::PATCH_VALUES, 3).init(&base),
        };
        let bytes = record_bytes(&model).unwrap();
        let set = set_of(&[5, 7]);
        // 11 patches: split unevenly (6 + 5 on two devices, 4 + 4 + 3 on three)
        let chunk: Vec<usize> = (0..11).collect();
        let loss = |m: &Probe, idx: &[usize], device: &Device| -> Result<Option<Tensor<1>>> {
            let x = set
                .batch(idx, device)
                .reshape([idx.len(), mer::model::PATCH_VALUES])
                .div_scalar(100.0);
            let y = m.linear.forward(x);
            Ok(Some((y.clone() * y).mean_dim(1).mean()))
        };
        let step = |n: usize| {
            let devices = vec![Device::flex().autodiff(); n];
            let m = load_record(
                Probe {
                    linear: burn::nn::LinearConfig::new(mer::model::PATCH_VALUES, 3)
                        .init(&devices[0]),
                },
                &bytes,
            )
            .unwrap();
            let mut optim = adam();
            let mut loss = loss;
            let (m, value) = train_step(m, &mut optim, &chunk, 1e-2, &devices, &mut loss).unwrap();
            (tensor_of(&m, "linear.weight"), value.unwrap())
        };
        let (one, l1) = step(1);
        let before = tensor_of(&model, "linear.weight");
        let moved = one.iter().zip(&before).filter(|(a, b)| a != b).count();
        assert!(
            moved > one.len() / 2,
            "the step moved {moved} of {} weights",
            one.len()
        );
        for n in [2, 3] {
            let (other, l) = step(n);
            assert!((l - l1).abs() < 1e-6, "{n} devices: loss {l} vs {l1}");
            let d = one
                .iter()
                .zip(&other)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                d < 1e-6,
                "{n} devices: weights differ from one device's by {d}"
            );
        }
    }
}
