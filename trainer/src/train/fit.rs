//! The per-epoch loop every network trains in ([`fit`]): resume, train, settle, validate,
//! schedule, checkpoint, keep the best; what differs between networks is a [`Phase`]. Also
//! the optimizer step on one or several devices and the BatchNorm re-estimation.

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::prelude::*;
use mer::model::RunningStats;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{PatchSet, Schedule, TrainState, adam, scalar};
use crate::data::progress_bar;
use crate::run::{PhaseRecord, Run};

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

/// What one network does in a phase of [`fit`].
pub(crate) trait Phase<M: Module> {
    /// The loss of the batch `idx` on `device`; None leaves the batch out.
    fn step(&self, model: &M, idx: &[usize], device: &Device) -> Result<Option<Tensor<1>>>;

    /// The trained model made ready for inference after an epoch (pretraining re-estimates
    /// the BatchNorm statistics there).
    fn settle(&self, model: M) -> Result<M> {
        Ok(model)
    }

    fn validate(&self, model: &M) -> Result<Validation>;
}

/// One epoch's validation.
pub(crate) struct Validation {
    pub loss: f64,
    /// The checkpoint metric, to minimise.
    pub metric: f64,
    /// Extra metrics.csv columns (comma-separated, without the trailing comma).
    pub extra: String,
}

/// A phase's place in its run: its name, rules, data size and metrics columns.
pub(crate) struct PhaseSpec<'a> {
    /// One of [`super::phase`]'s names.
    pub name: &'static str,
    /// 0, or 1 for a transfer's fine-tuning phase.
    pub index: usize,
    pub schedule: &'a Schedule,
    pub opts: &'a LoopOptions,
    /// Samples (patches or CPC windows) to draw from.
    pub samples: usize,
    pub csv_header: &'static str,
    /// The metric an epoch must beat to be kept (an earlier phase's best).
    pub initial_best: f64,
}

pub(crate) fn epoch_rng(seed: u64, phase: usize, epoch: usize) -> StdRng {
    StdRng::seed_from_u64(
        seed ^ ((phase as u64) << 48) ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// Trains `model` through one phase with Adam: resumes from the run's checkpoint, keeps the
/// best epoch's weights in the run's best.record, and writes the phase's [`PhaseRecord`]
/// when it ends.
pub(crate) fn fit<M: Module>(
    run: &Run,
    spec: &PhaseSpec,
    mut model: M,
    phase: &impl Phase<M>,
) -> Result<(M, TrainState)> {
    let (what, opts, schedule, n_samples) = (spec.name, spec.opts, spec.schedule, spec.samples);
    let mut optim = adam();
    let mut state = TrainState::fresh();
    state.phase = spec.index;
    state.best = spec.initial_best;
    if let Some((m, o, s)) = run.resume(model.clone(), optim.clone())?
        && s.phase == spec.index
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
    let step = |m: &M, idx: &[usize], d: &Device| phase.step(m, idx, d);
    while state.epoch < opts.epochs && !state.stopped_early {
        let epoch = state.epoch;
        let mut rng = epoch_rng(opts.seed, spec.index, epoch);
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
            let (m, loss) = train_step(model, &mut optim, chunk, lr, &opts.devices, &step)?;
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
        model = phase.settle(model)?;
        let Validation {
            loss: val_loss,
            metric,
            extra,
        } = phase.validate(&model)?;
        let lr = state.lr(schedule);
        state.epoch += 1;
        let improved = metric < state.best;
        if improved {
            state.best = metric;
            state.best_epoch = state.epoch;
            run.save_best(&model)?;
        }
        let stop = state.end_epoch(val_loss, schedule);
        let secs = started.elapsed().as_secs_f64();
        run.metrics_row(
            spec.csv_header,
            &format!(
                "{},{},{train_loss:.6},{val_loss:.6},{extra}{lr:.3e},{secs:.1}",
                spec.index,
                state.epoch,
                extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!("{extra},")
                }
            ),
            // Rows of earlier phases stay; the index counts rows before this one.
            state.epoch - 1 + phase_offset(run, spec.index),
        )?;
        run.log(&format!(
            "{what} epoch {}/{}: train loss {train_loss:.4}, val loss {val_loss:.4}, {extra_named}lr {lr:.2e}, {secs:.1} s{}",
            state.epoch,
            opts.epochs,
            if improved { " (best)" } else { "" },
            extra_named = name_columns(spec.csv_header, &extra),
        ));
        run.save_checkpoint(&model, &optim, &state)?;
        if stop {
            run.log(&format!("{what}: early stop after epoch {}", state.epoch));
        }
    }
    run.write_phase_record(&PhaseRecord {
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
    })?;
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
pub(crate) fn reestimate_norms<M: Module + RunningStats>(
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
    loss_of: &S,
) -> Result<(M, Option<f64>)>
where
    M: Module,
    S: Fn(&M, &[usize], &Device) -> Result<Option<Tensor<1>>>,
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
    run.metrics()
        .map(|m| {
            m.rows
                .iter()
                .filter(|r| r.first().is_some_and(|&p| p < phase as f64))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{load_record, record_bytes};
    use crate::train::patches::{patches, set_of};
    use burn::store::ModuleSnapshot;
    use mer::Patches;
    use mer::model::Encoder;

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
            .map(|_| {
                patches(
                    25,
                    (0..25 * mer::model::PATCH_VALUES)
                        .map(|_| {
                            seed = seed
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            3.0 + 2.0
                                * (((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
                                * 3f32.sqrt()
                        })
                        .collect(),
                )
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
            let (m, value) = train_step(m, &mut optim, &chunk, 1e-2, &devices, &loss).unwrap();
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
