//! The learning-rate rules of the original Keras code: Adam (AMSGrad), `decay` per
//! iteration, ReduceLROnPlateau and EarlyStopping on the validation loss, and the state a
//! resumed phase needs to go on with them.

use burn::optim::ModuleOptimizer;
use mer::optim::AmsgradConfig;
use serde::{Deserialize, Serialize};

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
    pub(crate) fn fresh() -> Self {
        Self {
            lr_factor: 1.0,
            plateau_best: f64::INFINITY,
            stop_best: f64::INFINITY,
            best: f64::INFINITY,
            ..Default::default()
        }
    }

    pub(crate) fn lr(&self, s: &Schedule) -> f64 {
        s.lr * self.lr_factor / (1.0 + s.decay * self.iterations as f64)
    }

    /// Keras' ReduceLROnPlateau (factor 0.5) and EarlyStopping on the validation loss.
    /// Returns true when training should stop.
    pub(crate) fn end_epoch(&mut self, val_loss: f64, s: &Schedule) -> bool {
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

pub(crate) fn adam() -> ModuleOptimizer {
    // Keras' Adam (epsilon 1e-7) with AMSGrad, as the original's compile call: burn's
    // Adam step fused into one pass per parameter (its records are burn's Adam records).
    AmsgradConfig::new().init()
}
