//! Training: pretraining (SCAE, CPC) and transfer (Feat. Ext., Full) in one per-epoch loop
//! with the learning-rate rules of the original Keras code; the run folder they write
//! (checkpoints that make a killed run resume) is [`crate::run::Run`].
//!
//! burn 0.22's `Learner` is not used: it has no ReduceLROnPlateau nor Keras' per-iteration
//! `decay`, and resuming mid-grid across three networks is simpler with this small loop.
//! burn's own pieces do the rest: modules, Adam (AMSGrad), losses, records for checkpoints
//! (they keep the parameter ids, so Adam's state reattaches on resume).

mod cpc;
mod fit;
mod patches;
mod scae;
mod schedule;
mod transfer;

use burn::prelude::*;

pub use cpc::{CpcObjective, pretrain_cpc};
pub use fit::LoopOptions;
pub use patches::{LatentSet, PatchLabels, PatchSet};
pub use scae::pretrain_scae;
pub use schedule::{Schedule, TrainState};
pub use transfer::{TransferPlan, TransferSchedules, balanced_weights, transfer};

pub(crate) use schedule::adam;

/// The names of the training phases: in the log, in `RUN/phase-<name>.json` and in a
/// model file's schedule.
pub mod phase {
    pub const DAE: &str = "dae";
    pub const CPC: &str = "cpc";
    pub const FEAT_EXT: &str = "feat-ext";
    pub const FULL: &str = "full";
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

/// The class of each row of a [rows, classes] tensor of scores.
fn argmax_rows(scores: Tensor<2>) -> anyhow::Result<Vec<i64>> {
    let [rows, _] = scores.dims();
    scores
        .argmax(1)
        .reshape([rows])
        .into_data()
        .try_into_vec_as::<i64>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}
