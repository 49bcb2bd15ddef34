//! The optimizer of the paper's training runs: Adam with AMSGrad, as burn's `Adam` computes
//! it (`AdamConfig::with_amsgrad(true)`, no weight decay), its step fused into one pass
//! per parameter on the CPU backend ([`crate::ops::adam`]). Its state is burn's
//! [`AdamState`], so its records are burn's Adam records: a checkpoint written with either
//! optimizer resumes with the other.

use burn::config::Config;
use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::prelude::*;

use crate::ops::EncoderOps;
use crate::ops::adam::Amsgrad as StepScalars;

/// Adam's settings; the defaults are Keras' (epsilon 1e-7), as the original code trained.
#[derive(Config, Debug)]
pub struct AmsgradConfig {
    #[config(default = 0.9)]
    pub beta_1: f32,
    #[config(default = 0.999)]
    pub beta_2: f32,
    #[config(default = 1e-7)]
    pub epsilon: f32,
}

impl AmsgradConfig {
    /// The optimizer of a whole module.
    pub fn init(&self) -> ModuleOptimizer {
        ModuleOptimizer::from(Amsgrad {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
        })
    }
}

/// Adam with AMSGrad, one parameter at a time (see the module's text).
#[derive(Clone, Debug)]
pub struct Amsgrad {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

impl Optimizer for Amsgrad {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        // No state yet: the step is the first (`StepScalars::first`), which ignores the
        // moments given, zeros here. A state without a maximum (a record of Adam without
        // AMSGrad) starts it at zero: max(0, m2) is burn's new m2 but for a NaN gradient.
        let (time, moment_1, moment_2, max_moment_2) = match state {
            Some(AdamState { momentum: m }) => {
                let max = m.max_moment_2.unwrap_or_else(|| m.moment_2.zeros_like());
                (m.time + 1, m.moment_1, m.moment_2, max)
            }
            None => (1, grad.zeros_like(), grad.zeros_like(), grad.zeros_like()),
        };
        let scalars = StepScalars::at(self.beta_1, self.beta_2, self.epsilon, lr, time);
        let (param, moment_1, moment_2, max_moment_2) =
            <burn::backend::Dispatch as EncoderOps>::amsgrad_step(
                tensor.into_dispatch(),
                grad.into_dispatch(),
                moment_1.into_dispatch(),
                moment_2.into_dispatch(),
                max_moment_2.into_dispatch(),
                scalars,
            );
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: Tensor::from_dispatch(moment_1),
            moment_2: Tensor::from_dispatch(moment_2),
            max_moment_2: Some(Tensor::from_dispatch(max_moment_2)),
        };
        (Tensor::from_dispatch(param), Some(AdamState { momentum }))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}
