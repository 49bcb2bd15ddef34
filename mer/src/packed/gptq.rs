//! Error-compensating rounding of the dense layers (GPTQ: Frantar et al., "GPTQ: Accurate
//! Post-Training Quantization for Generative Pre-trained Transformers", ICLR 2023), for the
//! 4-bit format of this module.
//!
//! Rounding each weight to its nearest level ignores that the layer's errors add up in
//! its outputs. With `X` the layer's inputs on calibration patches and `H = XᵀX`, the
//! output error of levels `Q` for weights `W` (rows: inputs) is `tr((W-Q)ᵀ H (W-Q))`,
//! which with the Cholesky factor `H = L Lᵀ` is `‖Lᵀ(W-Q)‖²`. `Lᵀ` is upper triangular,
//! so the rows can be chosen from the last to the first, each rounding its target
//! `Wᵢ + Σⱼ>ᵢ Lⱼᵢ (Wⱼ - Qⱼ) / Lᵢᵢ`: the rows already rounded push their error onto the
//! rows still free, in the directions the inputs actually take (this is GPTQ's update,
//! written as Babai's nearest-plane rounding: Chen et al., 2024). The damping of GPTQ
//! (1 % of the mean diagonal) keeps `H` positive definite.
//!
//! Each layer is calibrated on the inputs the rounded layers before it produce, starting
//! from the encoder with its 8-bit kernels. The blocks of a row take their scales from
//! that row's targets (the largest maps to 7, as in [`super::quantize_block`]), so
//! rounding the stored weights to the nearest level again gives them back unchanged.
//! Layers whose blocks span several rows (the output layers, 4 or 2 columns: 0.06 % of
//! the weights) are rounded to the nearest level.

use std::collections::HashMap;

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::{BLOCK, Rounded, quantize_block};
use crate::MerError;
use crate::features::Patches;
use crate::model::{Classifier, TaskHead};

/// GPTQ's damping: this fraction of the Hessian's mean diagonal is added to its diagonal.
const DAMPING: f64 = 0.01;
/// Patches per forward pass of the encoder.
const BATCH: usize = 64;
/// Rows per block of the Cholesky factorisation (the trailing updates are matrix products).
const CHOLESKY_BLOCK: usize = 128;

/// The levels of every 4-bit weight matrix of `model`, by path, calibrated on `patches`
/// passed through `rounded` (the same classifier with every tensor rounded to the nearest
/// level: its encoder is the one the file will hold).
pub(super) fn calibrate(
    model: &Classifier,
    rounded: &Classifier,
    patches: &Patches,
) -> Result<HashMap<String, Rounded>, MerError> {
    if patches.n == 0 {
        return Err(MerError::ModelFile(
            "4-bit calibration needs at least one patch".into(),
        ));
    }
    let device = rounded.dense1.linear.weight.val().device();
    let [_, c, h, w] = patches.shape();
    let per = c * h * w;
    let mut latents = Vec::new();
    for start in (0..patches.n).step_by(BATCH) {
        let end = (start + BATCH).min(patches.n);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                patches.data[start * per..end * per].to_vec(),
                [end - start, c, h, w],
            ),
            &device,
        );
        latents.push(rounded.encoder.forward_flat(x));
    }
    let x = Tensor::cat(latents, 0);
    let mut out = HashMap::new();
    let x = dense_layer(&model.dense1.linear, x, "dense1.linear", true, &mut out)?;
    let x = dense_layer(&model.dense2.linear, x, "dense2.linear", true, &mut out)?;
    let x = dense_layer(&model.dense3.linear, x, "dense3.linear", true, &mut out)?;
    for (name, head) in [
        ("quadrant", &model.quadrant),
        ("arousal", &model.arousal),
        ("valence", &model.valence),
    ] {
        task_head(head, x.clone(), name, &mut out)?;
    }
    Ok(out)
}

fn task_head(
    head: &TaskHead,
    x: Tensor<2>,
    name: &str,
    out: &mut HashMap<String, Rounded>,
) -> Result<(), MerError> {
    let x = dense_layer(
        &head.hidden1.linear,
        x,
        &format!("{name}.hidden1.linear"),
        true,
        out,
    )?;
    let x = dense_layer(
        &head.hidden2.linear,
        x,
        &format!("{name}.hidden2.linear"),
        true,
        out,
    )?;
    dense_layer(&head.output, x, &format!("{name}.output"), false, out)?;
    Ok(())
}

/// Rounds one dense layer on its inputs `x` [n, d_in] and returns what the rounded layer
/// gives the next one (after ReLU when `relu_after`).
fn dense_layer(
    linear: &Linear,
    x: Tensor<2>,
    path: &str,
    relu_after: bool,
    out: &mut HashMap<String, Rounded>,
) -> Result<Tensor<2>, MerError> {
    let weight = linear.weight.val();
    let device = weight.device();
    let [d_in, d_out] = weight.dims();
    let w = to_vec(weight)?;
    let hessian = to_vec(x.clone().transpose().matmul(x.clone()))?;
    let r = round_rows(
        &w,
        d_in,
        d_out,
        hessian.into_iter().map(f64::from).collect(),
    );
    let dequantized = r.values();
    out.insert(format!("{path}.weight"), r);
    let mut y = x.matmul(Tensor::from_data(
        TensorData::new(dequantized, [d_in, d_out]),
        &device,
    ));
    if let Some(bias) = &linear.bias {
        y = y + bias.val().unsqueeze_dim(0);
    }
    Ok(if relu_after { relu(y) } else { y })
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, MerError> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| MerError::ModelFile(format!("4-bit calibration: {e:?}")))
}

impl Rounded {
    /// The weights these levels stand for, row-major like the matrix they round.
    fn values(&self) -> Vec<f32> {
        self.levels
            .iter()
            .enumerate()
            .map(|(i, &q)| f32::from(q) * self.scales[i / BLOCK].to_f32())
            .collect()
    }
}

/// The levels of the weight matrix `w` [d_in, d_out] (row-major) that minimise the output
/// error under the Hessian `h` [d_in, d_in] (consumed), rows chosen from the last.
/// The nearest levels when the inputs are all zero or a row is not a whole number of
/// blocks.
pub(super) fn round_rows(w: &[f32], d_in: usize, d_out: usize, mut h: Vec<f64>) -> Rounded {
    let nearest = || {
        let (mut scales, mut levels) = (Vec::new(), Vec::new());
        for block in w.chunks(BLOCK) {
            let (s, q) = quantize_block(block, 7.0);
            scales.push(s);
            levels.extend(q);
        }
        Rounded { scales, levels }
    };
    let mean_diag = (0..d_in).map(|i| h[i * d_in + i]).sum::<f64>() / d_in as f64;
    // (NaN inputs also fail the first test.)
    if mean_diag.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        || !d_out.is_multiple_of(BLOCK)
    {
        return nearest();
    }
    for i in 0..d_in {
        h[i * d_in + i] += DAMPING * mean_diag;
    }
    if cholesky(&mut h, d_in).is_err() {
        return nearest();
    }
    let l: Vec<f32> = h.into_iter().map(|v| v as f32).collect();
    let mut scales = vec![half::f16::ZERO; w.len().div_ceil(BLOCK)];
    let mut levels = vec![0i8; w.len()];
    // acc[i] = Σⱼ>ᵢ Lⱼᵢ (Wⱼ - Qⱼ), over the rows j already rounded: inside a group of rows
    // at once, to the rows before the group by one matrix product (GPTQ's lazy updates).
    let mut acc = vec![0f32; w.len()];
    let mut target = vec![0f32; d_out];
    let group_ends: Vec<usize> = (1..=d_in.div_ceil(CHOLESKY_BLOCK))
        .map(|g| (g * CHOLESKY_BLOCK).min(d_in))
        .rev()
        .collect();
    for b1 in group_ends {
        let b0 = (b1 - 1) / CHOLESKY_BLOCK * CHOLESKY_BLOCK;
        // The group's errors W - Q, row by row.
        let mut err = vec![0f32; (b1 - b0) * d_out];
        for j in (b0..b1).rev() {
            let row = j * d_out..(j + 1) * d_out;
            let ljj = l[j * d_in + j];
            for ((t, &wv), &a) in target
                .iter_mut()
                .zip(&w[row.clone()])
                .zip(&acc[row.clone()])
            {
                *t = wv + a / ljj;
            }
            for (k, block) in target.chunks(BLOCK).enumerate() {
                let (s, q) = quantize_block(block, 7.0);
                scales[row.start / BLOCK + k] = s;
                levels[row.start + k * BLOCK..][..BLOCK].copy_from_slice(&q);
            }
            let e = &mut err[(j - b0) * d_out..(j - b0 + 1) * d_out];
            for (o, e) in e.iter_mut().enumerate() {
                let i = row.start + o;
                *e = w[i] - f32::from(levels[i]) * scales[i / BLOCK].to_f32();
            }
            let e = &err[(j - b0) * d_out..(j - b0 + 1) * d_out];
            for i in b0..j {
                let lji = l[j * d_in + i];
                for (a, &e) in acc[i * d_out..(i + 1) * d_out].iter_mut().zip(e) {
                    *a += lji * e;
                }
            }
        }
        if b0 == 0 {
            break;
        }
        // acc[..b0] += Lᵀ[..b0, b0..b1] · err: entry (i, j) of the left matrix is L[b0 + j][i].
        // SAFETY: `acc` is borrowed mutably and aliases neither operand; the left matrix's
        // largest index is (b1 - 1) * d_in + b0 - 1 < d_in², the right one's is err's last.
        unsafe {
            gemm::gemm(
                b0,
                d_out,
                b1 - b0,
                acc.as_mut_ptr(),
                1,
                d_out as isize,
                true,
                l.as_ptr().add(b0 * d_in),
                d_in as isize,
                1,
                err.as_ptr(),
                1,
                d_out as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism(),
            );
        }
    }
    // An infinite or NaN target (weights far beyond the inputs' scale) would leave an
    // unusable scale: round to the nearest level instead.
    if scales.iter().any(|s| !s.is_finite()) {
        return nearest();
    }
    Rounded { scales, levels }
}

struct NotPositive;

/// In-place Cholesky factorisation `a = L Lᵀ` of the symmetric `n`x`n` matrix `a`
/// (row-major; its lower triangle is read and overwritten by `L`, the upper is left as
/// scratch), blocked so that the trailing updates are matrix products.
fn cholesky(a: &mut [f64], n: usize) -> Result<(), NotPositive> {
    for k0 in (0..n).step_by(CHOLESKY_BLOCK) {
        let k1 = (k0 + CHOLESKY_BLOCK).min(n);
        // The diagonal block, then the panel below it (columns k0..k1 of every later row).
        for i in k0..n {
            for j in k0..k1.min(i + 1) {
                let s = a[i * n + j] - (k0..j).map(|k| a[i * n + k] * a[j * n + k]).sum::<f64>();
                if i == j {
                    if s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                        return Err(NotPositive);
                    }
                    a[i * n + i] = s.sqrt();
                } else {
                    a[i * n + j] = s / a[j * n + j];
                }
            }
        }
        if k1 == n {
            break;
        }
        // Trailing update: a[k1.., k1..] -= P Pᵀ with P = L[k1.., k0..k1].
        let m = n - k1;
        let base = a.as_mut_ptr();
        // SAFETY: the destination (rows and columns k1..n) and the panel (rows k1..n,
        // columns k0..k1) are disjoint parts of `a`, every index is below n*n, and no
        // reference into `a` is alive while gemm runs.
        unsafe {
            let dst = base.add(k1 * n + k1);
            let panel = base.add(k1 * n + k0) as *const f64;
            gemm::gemm(
                m,
                m,
                k1 - k0,
                dst,
                1,
                n as isize,
                true,
                panel,
                1,
                n as isize,
                panel,
                n as isize,
                1,
                1.0,
                -1.0,
                false,
                false,
                false,
                parallelism(),
            );
        }
    }
    Ok(())
}

fn parallelism() -> gemm::Parallelism {
    #[cfg(feature = "rayon")]
    {
        gemm::Parallelism::Rayon(0)
    }
    #[cfg(not(feature = "rayon"))]
    {
        gemm::Parallelism::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    #[test]
    fn cholesky_reproduces_the_matrix() {
        let n = 300; // more than two blocks, the last one partial
        let mut seed = 7;
        let b: Vec<f64> = (0..n * n).map(|_| f64::from(lcg(&mut seed))).collect();
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let mut l = a.clone();
        assert!(cholesky(&mut l, n).is_ok());
        for i in 0..n {
            for j in 0..=i {
                let v: f64 = (0..=j).map(|k| l[i * n + k] * l[j * n + k]).sum();
                assert!((v - a[i * n + j]).abs() < 1e-8 * a[i * n + i].abs().max(1.0));
            }
        }
        let mut not_pd = vec![0f64; 4];
        not_pd[0] = 1.0;
        not_pd[3] = -1.0;
        assert!(cholesky(&mut not_pd, 2).is_err());
    }

    /// On correlated inputs, the compensated levels give a much smaller output error than
    /// the nearest ones; a matrix of 4 columns is rounded to the nearest.
    #[test]
    fn compensated_rounding_lowers_the_output_error() {
        let mut seed = 3;
        // (300, 128): a last group of rows shorter than the others.
        for (d_in, d_out) in [(256, 256), (300, 128), (300, 4)] {
            let n = 1024;
            // Inputs with a shared component, like a layer's correlated activations.
            let x: Vec<f32> = (0..n)
                .flat_map(|_| {
                    let common = lcg(&mut seed);
                    (0..d_in)
                        .map(|_| common + 0.3 * lcg(&mut seed))
                        .collect::<Vec<_>>()
                })
                .collect();
            let w: Vec<f32> = (0..d_in * d_out).map(|_| lcg(&mut seed)).collect();
            let mut h = vec![0f64; d_in * d_in];
            for s in 0..n {
                let row = &x[s * d_in..(s + 1) * d_in];
                for i in 0..d_in {
                    for j in 0..d_in {
                        h[i * d_in + j] += f64::from(row[i]) * f64::from(row[j]);
                    }
                }
            }
            let output_error = |q: &[f32]| -> f64 {
                let mut total = 0.0;
                for s in 0..n {
                    let row = &x[s * d_in..(s + 1) * d_in];
                    for o in 0..d_out {
                        let e: f32 = (0..d_in)
                            .map(|i| row[i] * (w[i * d_out + o] - q[i * d_out + o]))
                            .sum();
                        total += f64::from(e * e);
                    }
                }
                total
            };
            let nearest: Vec<f32> = w
                .chunks(BLOCK)
                .flat_map(|b| {
                    let (s, q) = quantize_block(b, 7.0);
                    q.into_iter().map(move |v| f32::from(v) * s.to_f32())
                })
                .collect();
            let r = round_rows(&w, d_in, d_out, h);
            assert_eq!(r.levels.len(), w.len());
            assert!(r.levels.iter().all(|&q| (-8..=7).contains(&q)));
            let compensated = r.values();
            let (e_near, e_comp) = (output_error(&nearest), output_error(&compensated));
            if d_out % BLOCK == 0 {
                assert!(
                    e_comp < 0.25 * e_near,
                    "{d_in}x{d_out}: {e_comp} vs {e_near}"
                );
                // Stored levels come back unchanged when rounded to the nearest again.
                for (block, (s, q)) in compensated
                    .chunks(BLOCK)
                    .zip(r.scales.iter().zip(r.levels.chunks(BLOCK)))
                {
                    assert_eq!(quantize_block(block, 7.0), (*s, q.to_vec()));
                }
            } else {
                assert_eq!(compensated, nearest);
            }
        }
    }
}
