//! CPC pretraining: 4 past patches -> GRU context -> predicted codes of the next 2, with
//! the original's binary objective or InfoNCE, and negatives only from other utterances.

use anyhow::{Result, bail};
use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::prelude::*;
use mer::model::{CPC_FUTURE, CPC_PAST, Cpc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::fit::{LoopOptions, Phase, PhaseSpec, Validation, fit, reestimate_norms};
use super::{PatchSet, Schedule, argmax_rows, phase, scalar};
use crate::run::Run;

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
            let logits = Cpc::logits(pred.select(0, rows), target);
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
                let arg = argmax_rows(logits).unwrap_or_default();
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

struct CpcPhase<'a> {
    train: &'a PatchSet,
    val: &'a PatchSet,
    train_windows: Vec<usize>,
    val_windows: Vec<usize>,
    objective: CpcObjective,
    batch: usize,
    val_device: Device,
    seed: u64,
}

impl Phase<Cpc> for CpcPhase<'_> {
    fn step(&self, model: &Cpc, idx: &[usize], device: &Device) -> Result<Option<Tensor<1>>> {
        if idx.len() < 2 {
            return Ok(None);
        }
        let starts: Vec<usize> = idx.iter().map(|&i| self.train_windows[i]).collect();
        Ok(Some(
            cpc_batch(model, self.train, &starts, self.objective, device).0,
        ))
    }

    fn settle(&self, model: Cpc) -> Result<Cpc> {
        Ok(reestimate_norms(model, self.train, self.seed, |m, x| {
            m.encode(x);
        }))
    }

    fn validate(&self, model: &Cpc) -> Result<Validation> {
        let eval = model.valid();
        let (mut loss, mut acc, mut n) = (0.0, 0.0, 0usize);
        for chunk in self.val_windows.chunks(self.batch) {
            if chunk.len() < 2 {
                continue;
            }
            let (l, a) = cpc_batch(&eval, self.val, chunk, self.objective, &self.val_device);
            loss += scalar(l) * chunk.len() as f64;
            acc += a * chunk.len() as f64;
            n += chunk.len();
        }
        let n = n.max(1) as f64;
        Ok(Validation {
            loss: loss / n,
            metric: loss / n,
            extra: format!("{:.4}", acc / n),
        })
    }
}

/// CPC pretraining on `train`, validated on `val`; the best epoch's network.
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
    let batch = opts.batch.max(2);
    let opts = LoopOptions {
        batch,
        ..opts.clone()
    };
    let spec = PhaseSpec {
        name: phase::CPC,
        index: 0,
        schedule,
        opts: &opts,
        samples: train_windows.len(),
        csv_header: "phase,epoch,train_loss,val_loss,val_accuracy,lr,seconds",
        initial_best: f64::INFINITY,
    };
    let phase = CpcPhase {
        train,
        val,
        train_windows,
        val_windows,
        objective,
        batch,
        val_device: device.clone().without_autodiff(),
        seed: opts.seed,
    };
    fit(run, &spec, Cpc::new(device), &phase).map(|(m, _)| m.valid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::fit::epoch_rng;
    use crate::train::patches::set_of;
    use burn::optim::GradientsParams;

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
}
