//! The training data in memory: the log-mel patches of many files in one buffer
//! ([`PatchSet`]), each patch's labels ([`PatchLabels`]) and the frozen encoder's outputs
//! computed once ([`LatentSet`]).

use anyhow::Result;
use burn::prelude::*;
use mer::Patches;
use mer::model::{Encoder, LATENT, PATCH, PATCH_VALUES};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::progress_bar;

/// Rows `idx` (of `per` values each) of a flat buffer, in that order: a batch's data.
fn gather_rows(data: &[f32], per: usize, idx: &[usize]) -> Vec<f32> {
    let mut v = Vec::with_capacity(idx.len() * per);
    for &i in idx {
        v.extend_from_slice(&data[i * per..(i + 1) * per]);
    }
    v
}

/// `n` patches of the paper's shape from their values.
pub(crate) fn patches(n: usize, data: Vec<f32>) -> Patches {
    let [n_mels, frames] = PATCH;
    Patches {
        n,
        n_mels,
        frames,
        data,
    }
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
        let per = PATCH_VALUES;
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
        let [mels, frames] = PATCH;
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
                        patches(b - a, self.data[a * self.per..b * self.per].to_vec())
                    })
                    .collect(),
            )
        };
        (take(&order[n_val..]), take(&order[..n_val]))
    }
}

/// Labels of every patch of a music set: (quadrant, arousal, valence) class indices.
#[derive(Debug, Clone)]
pub struct PatchLabels {
    pub quadrant: Vec<usize>,
    pub arousal: Vec<usize>,
    pub valence: Vec<usize>,
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

/// A set of utterances with the given numbers of patches; patch i holds the value i.
#[cfg(test)]
pub(crate) fn set_of(lengths: &[usize]) -> PatchSet {
    let mut next = 0usize;
    PatchSet::new(
        lengths
            .iter()
            .map(|&n| {
                let data = (next..next + n)
                    .flat_map(|i| std::iter::repeat_n(i as f32, PATCH_VALUES))
                    .collect();
                next += n;
                patches(n, data)
            })
            .collect(),
    )
}
