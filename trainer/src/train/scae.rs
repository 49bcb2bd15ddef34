//! SCAE pretraining (the denoising autoencoder, "dae" on the command line): input = patch
//! + 0.3 N(0, 1), target = the clean patch rescaled to [0, 1].

use anyhow::Result;
use burn::nn::loss::{MseLoss, Reduction};
use burn::prelude::*;
use burn::tensor::Distribution;
use mer::model::Scae;

use super::fit::{LoopOptions, Phase, PhaseSpec, Validation, fit, reestimate_norms};
use super::{PatchSet, Schedule, phase, scalar};
use crate::run::Run;

/// Standard deviation of the noise added to the input patches.
const NOISE: f64 = 0.3;

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

/// The patch with noise: what the SCAE sees.
fn noisy(x: Tensor<4>) -> Tensor<4> {
    x.clone()
        + x.random_like(Distribution::Normal(0.0, 1.0))
            .mul_scalar(NOISE)
}

struct ScaePhase<'a> {
    train: &'a PatchSet,
    val: &'a PatchSet,
    val_device: Device,
    seed: u64,
}

impl Phase<Scae> for ScaePhase<'_> {
    fn step(&self, model: &Scae, idx: &[usize], device: &Device) -> Result<Option<Tensor<1>>> {
        let x = self.train.batch(idx, device);
        let target = unit_scaled(x.clone()).detach();
        Ok(Some(MseLoss::new().forward(
            model.forward(noisy(x)),
            target,
            Reduction::Mean,
        )))
    }

    fn settle(&self, model: Scae) -> Result<Scae> {
        Ok(reestimate_norms(model, self.train, self.seed, |m, x| {
            m.forward(x);
        }))
    }

    fn validate(&self, model: &Scae) -> Result<Validation> {
        let eval = model.valid();
        self.val_device.seed(self.seed ^ 0x5EED);
        let mut sum = 0.0;
        let mut n = 0usize;
        let idx: Vec<usize> = (0..self.val.len()).collect();
        for chunk in idx.chunks(64) {
            let x = self.val.batch(chunk, &self.val_device);
            let loss = MseLoss::new().forward(
                eval.forward(noisy(x.clone())),
                unit_scaled(x),
                Reduction::Mean,
            );
            sum += scalar(loss) * chunk.len() as f64;
            n += chunk.len();
        }
        let loss = sum / n.max(1) as f64;
        Ok(Validation {
            loss,
            metric: loss,
            extra: String::new(),
        })
    }
}

/// SCAE pretraining on `train`, validated on `val`; the best epoch's network.
pub fn pretrain_scae(
    run: &Run,
    train: &PatchSet,
    val: &PatchSet,
    device: &Device,
    schedule: &Schedule,
    opts: &LoopOptions,
) -> Result<Scae> {
    let spec = PhaseSpec {
        name: phase::DAE,
        index: 0,
        schedule,
        opts,
        samples: train.len(),
        csv_header: "phase,epoch,train_loss,val_loss,lr,seconds",
        initial_best: f64::INFINITY,
    };
    let phase = ScaePhase {
        train,
        val,
        val_device: device.clone().without_autodiff(),
        seed: opts.seed,
    };
    fit(run, &spec, Scae::new(device), &phase).map(|(m, _)| m.valid())
}
