//! A training BatchNorm of a ReLU's output, `gamma (relu(x) - mean) / sqrt(var + eps) +
//! beta` with the batch's per-channel mean and biased variance, and its backward pass: the
//! values of burn's `relu` then `batch_norm_train`, whose composite swaps the activation's
//! axes and copies it for each statistic. Here the activation is read as it lies, `[b, c,
//! h, w]`: forward, a pass for the means, one for the variances (about the mean, so
//! that a large mean does not cancel them away) and one for the output; backward, a pass
//! for the two per-channel sums and one for the gradient. Sums run in 8 f32 lanes per
//! plane (vectorised), the planes' totals in f64. The ReLU's output is never stored; the
//! backward pass recomputes it and its mask from `x`.

use super::{build, for_each};

/// Shape of the activation: `batch` planes of `plane` values per channel.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    /// Values per channel and sample (`h w`).
    pub plane: usize,
}

impl Geometry {
    /// Values per channel over the batch.
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// The planes of channel `c`, one per sample.
    fn planes<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        let (channels, plane) = (self.channels, self.plane);
        (0..self.batch).map(move |n| &x[(n * channels + c) * plane..][..plane])
    }
}

/// `Σ f(a_i, b_i)` over two planes of equal length, in 8 f32 lanes.
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += f(xa[k], xb[k]);
        }
    }
    lanes.iter().map(|&l| f64::from(l)).sum::<f64>() + f64::from(tail)
}

/// The ReLU as burn's CPU backend computes it: NaN passes through (so does its gradient),
/// so that a diverging activation still shows in the loss.
fn relu(v: f32) -> f32 {
    if v <= 0.0 { 0.0 } else { v }
}

/// Per-channel values computed on every core: `f(c)` for each channel.
fn per_channel<T: Send + Default + Clone>(
    channels: usize,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let mut out = vec![T::default(); channels];
    for_each(out.iter_mut().enumerate().collect(), |(c, o)| *o = f(c));
    out
}

/// A tensor shaped as the activation, each plane written by `f(c, offset of the plane,
/// plane)` on every core.
fn each_plane(geo: &Geometry, f: impl Fn(usize, usize, &mut [f32]) + Sync + Send) -> Vec<f32> {
    let len = geo.batch * geo.channels * geo.plane;
    build(len, geo.plane, |s, o| f(s % geo.channels, s * geo.plane, o))
}

/// `(output, mean, variance)`: the output `[b, c, h, w]`, and per channel the mean and
/// the biased variance of `relu(x)` over the batch.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    geo: &Geometry,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    if x.is_empty() {
        // No values: statistics of nothing, as a mean over an empty axis gives them.
        let nan = vec![f32::NAN; geo.channels];
        return (Vec::new(), nan.clone(), nan);
    }
    let m = geo.count();
    let stats = per_channel(geo.channels, |c| {
        let sum: f64 = geo
            .planes(x, c)
            .map(|p| lane_sum(p, p, |v, _| relu(v)))
            .sum();
        let mean = sum / m;
        let mu = mean as f32;
        let squares: f64 = geo
            .planes(x, c)
            .map(|p| {
                lane_sum(p, p, |v, _| {
                    let d = relu(v) - mu;
                    d * d
                })
            })
            .sum();
        (mean, squares / m)
    });
    let affine: Vec<(f32, f32)> = stats
        .iter()
        .zip(gamma.iter().zip(beta))
        .map(|(&(mean, var), (&g, &b))| {
            let scale = f64::from(g) / (var + epsilon).sqrt();
            (scale as f32, (f64::from(b) - mean * scale) as f32)
        })
        .collect();
    let out = each_plane(geo, |c, at, o| {
        let (scale, shift) = affine[c];
        for (o, &v) in o.iter_mut().zip(&x[at..]) {
            *o = relu(v) * scale + shift;
        }
    });
    let mean = stats.iter().map(|s| s.0 as f32).collect();
    let var = stats.iter().map(|s| s.1 as f32).collect();
    (out, mean, var)
}

/// `(dx, dgamma, dbeta)` from the output's `grad`, for the `mean` and `variance` the
/// forward pass returned.
pub fn backward(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    grad: &[f32],
    geo: &Geometry,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    if x.is_empty() {
        let zeros = vec![0f32; geo.channels];
        return (Vec::new(), zeros.clone(), zeros);
    }
    let m = geo.count();
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32)
        .collect();
    // Per channel: Σ grad (dbeta) and Σ grad x̂ (dgamma), x̂ = (relu(x) - mean) / std.
    let sums = per_channel(geo.channels, |c| {
        let (mu, inv) = (mean[c], inv_std[c]);
        let (mut dbeta, mut dgamma) = (0f64, 0f64);
        for (p, g) in geo.planes(x, c).zip(geo.planes(grad, c)) {
            dbeta += lane_sum(g, g, |g, _| g);
            dgamma += lane_sum(p, g, |v, g| g * (relu(v) - mu) * inv);
        }
        (dgamma, dbeta)
    });
    let dx = each_plane(geo, |c, at, d| {
        let (dgamma, dbeta) = sums[c];
        let (mu, inv) = (mean[c], inv_std[c]);
        let scale = gamma[c] * inv;
        let (mean_grad, mean_xhat_grad) = ((dbeta / m) as f32, (dgamma / m) as f32);
        for ((d, &v), &g) in d.iter_mut().zip(&x[at..]).zip(&grad[at..]) {
            // The ReLU passes no gradient where its input was not positive. Computed for
            // every value, then selected: a branch on the ReLU's sign, which real
            // activations leave unpredictable, is not taken (3x slower when it was).
            let through = scale * (g - mean_grad - (v - mu) * inv * mean_xhat_grad);
            *d = if v <= 0.0 { 0.0 } else { through };
        }
    });
    let dgamma = sums.iter().map(|s| s.0 as f32).collect();
    let dbeta = sums.iter().map(|s| s.1 as f32).collect();
    (dx, dgamma, dbeta)
}
