//! Transfer to the multi-task classifier: Feat. Ext. (encoder frozen, the dense layers
//! trained on its outputs computed once), then for Full every weight fine-tuned; the
//! class-weighted losses of the three heads and the validation on quadrant accuracy.

use anyhow::Result;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use mer::model::{Classifier, ClassifierOutput, Encoder};
use serde::{Deserialize, Serialize};

use super::fit::{LoopOptions, Phase, PhaseSpec, Validation, fit};
use super::{LatentSet, PatchLabels, PatchSet, Schedule, argmax_rows, phase, scalar};
use crate::io::write_atomic;
use crate::run::Run;

/// Transfer settings (the original code's values by default; docs/METHOD.md, "Transfer").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferSchedules {
    pub feat_ext: Schedule,
    pub full: Schedule,
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
        out: ClassifierOutput,
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

/// How a transfer trains: whether the Full phase follows the frozen one, and each
/// phase's schedule and loop options.
#[derive(Clone, Copy)]
pub struct TransferPlan<'a> {
    pub full: bool,
    pub schedules: &'a TransferSchedules,
    pub opts: &'a LoopOptions,
    pub full_opts: &'a LoopOptions,
}

/// What the classifier is fed in a phase: the frozen encoder's outputs (Feat. Ext.) or
/// the patches themselves (Full); training and validation sets.
enum Inputs<'a> {
    Latents(LatentSet, LatentSet),
    Patches(&'a PatchSet, &'a PatchSet),
}

struct ClassifierPhase<'a> {
    inputs: Inputs<'a>,
    labels: &'a PatchLabels,
    val_labels: &'a PatchLabels,
    val_patches: usize,
    loss: &'a TaskLoss,
    val_loss: &'a TaskLoss,
    val_device: Device,
}

impl Phase<Classifier> for ClassifierPhase<'_> {
    fn step(
        &self,
        model: &Classifier,
        idx: &[usize],
        device: &Device,
    ) -> Result<Option<Tensor<1>>> {
        let out = match &self.inputs {
            Inputs::Latents(train, _) => model.forward_latent(train.batch(idx, device)),
            Inputs::Patches(train, _) => model.forward(train.batch(idx, device)),
        };
        Ok(Some(self.loss.forward(out, self.labels, idx, device).0))
    }

    /// (loss, checkpoint metric, quadrant accuracy column) over the validation patches;
    /// the loss weighs the classes by the validation labels' balance.
    fn validate(&self, model: &Classifier) -> Result<Validation> {
        let eval = model.valid();
        let device = &self.val_device;
        let (mut sum, mut correct) = (0.0, 0usize);
        let n = self.val_patches;
        let idx: Vec<usize> = (0..n).collect();
        for chunk in idx.chunks(128) {
            let out = match &self.inputs {
                Inputs::Latents(_, val) => eval.forward_latent(val.batch(chunk, device)),
                Inputs::Patches(_, val) => eval.forward(val.batch(chunk, device)),
            };
            let (l, q) = self.val_loss.forward(out, self.val_labels, chunk, device);
            sum += scalar(l) * chunk.len() as f64;
            let pred = argmax_rows(q)?;
            correct += chunk
                .iter()
                .zip(&pred)
                .filter(|(i, p)| self.val_labels.quadrant[**i] as i64 == **p)
                .count();
        }
        let acc = correct as f64 / n.max(1) as f64;
        let loss = sum / n.max(1) as f64;
        Ok(Validation {
            loss,
            // Minimise: the negative accuracy (ties broken by the loss).
            metric: -acc + 1e-6 * loss,
            extra: format!("{acc:.4}"),
        })
    }
}

/// Transfer to the multi-task classifier. Feat. Ext.: encoder frozen (weights, BatchNorm
/// statistics and dropout), the dense layers trained on the encoder's outputs computed
/// once (or given: `latents`). Full: after that phase, every weight trained further at the
/// lower learning rate from the frozen phase's best checkpoint. Checkpoint: the best
/// validation quadrant accuracy (patches).
pub fn transfer(
    run: &Run,
    encoder: Encoder,
    train: (&PatchSet, &PatchLabels),
    val: (&PatchSet, &PatchLabels),
    device: &Device,
    plan: &TransferPlan,
    latents: Option<(LatentSet, LatentSet)>,
) -> Result<Classifier> {
    let TransferPlan {
        full,
        schedules,
        opts,
        full_opts,
    } = *plan;
    let csv_header = "phase,epoch,train_loss,val_loss,val_quadrant_accuracy,lr,seconds";
    let (loss, val_loss) = (TaskLoss::new(train.1), TaskLoss::new(val.1));
    let val_device = device.clone().without_autodiff();
    let phase_of = |inputs| ClassifierPhase {
        inputs,
        labels: train.1,
        val_labels: val.1,
        val_patches: val.0.len(),
        loss: &loss,
        val_loss: &val_loss,
        val_device: val_device.clone(),
    };
    let mut model = Classifier::with_encoder(encoder, device);
    model.encoder = model.encoder.freeze();
    // Marks the end of the frozen phase and holds its best metric.
    let phase0_done = run.frozen_phase_done_path();
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
            let spec = PhaseSpec {
                name: phase::FEAT_EXT,
                index: 0,
                schedule: &schedules.feat_ext,
                opts,
                samples: train.0.len(),
                csv_header,
                initial_best: f64::INFINITY,
            };
            let frozen = phase_of(Inputs::Latents(train_latents, val_latents));
            let (m, state) = fit(run, &spec, model, &frozen)?;
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
        let mut released = run.load_best(Classifier::new(device))?;
        released.encoder = released.encoder.freeze().set_require_grad(true);
        let spec = PhaseSpec {
            name: phase::FULL,
            index: 1,
            schedule: &schedules.full,
            opts: full_opts,
            samples: train.0.len(),
            csv_header,
            initial_best: phase0_best,
        };
        let fine_tuning = phase_of(Inputs::Patches(train.0, val.0));
        model = fit(run, &spec, released, &fine_tuning)?.0;
    }
    drop(model);
    run.clear_checkpoint();
    Ok(run.load_best(Classifier::new(device))?.valid())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
