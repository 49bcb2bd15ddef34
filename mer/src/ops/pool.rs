//! The CPU kernels of the encoder's max-pooling over mel bands: windows of `k` bands by
//! one frame, stride `k`, no padding (burn's `MaxPool2d` with kernel and stride `[k, 1]`),
//! over contiguous f32 NCHW tensors. Each output row is the elementwise maximum of `k`
//! consecutive input rows, which the compiler vectorises; burn's general pooling computes
//! every window's indices with integer divisions instead (22 % of inference, measured).
//!
//! The backward pass sends each output gradient to the first maximum of its window (as
//! burn's does), found again from the input rather than kept from the forward pass.

use super::build;

/// `[batch, channels, height, width]` of the input, and the window `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub k: usize,
}

impl Geometry {
    /// Output rows per plane (a last partial window is dropped, as burn does).
    pub fn out_height(&self) -> usize {
        self.height / self.k
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_height() * self.width
    }

    fn planes(&self) -> usize {
        self.batch * self.channels
    }
}

/// `[batch, channels, height, width]` -> `[batch, channels, height / k, width]`.
pub fn forward(x: &[f32], geo: &Geometry) -> Vec<f32> {
    assert_eq!(
        x.len(),
        geo.input_len(),
        "max_pool_mel: input of the wrong size"
    );
    assert!(geo.k > 0, "max_pool_mel: a window of 0 bands");
    let (w, k) = (geo.width, geo.k);
    if geo.planes() == 0 || geo.out_height() == 0 || w == 0 {
        return vec![0f32; geo.output_len()];
    }
    build(geo.output_len(), geo.out_height() * w, |p, y| {
        let x = &x[p * geo.height * w..][..geo.height * w];
        for (i, out) in y.chunks_exact_mut(w).enumerate() {
            out.copy_from_slice(&x[i * k * w..][..w]);
            for j in 1..k {
                let row = &x[(i * k + j) * w..][..w];
                out.iter_mut().zip(row).for_each(|(o, v)| *o = o.max(*v));
            }
        }
    })
}

/// The input gradient from the input `x` and the output gradient `dy`.
pub fn backward(x: &[f32], dy: &[f32], geo: &Geometry) -> Vec<f32> {
    assert_eq!(
        x.len(),
        geo.input_len(),
        "max_pool_mel: input of the wrong size"
    );
    assert_eq!(
        dy.len(),
        geo.output_len(),
        "max_pool_mel: gradient of the wrong size"
    );
    let (w, k, h) = (geo.width, geo.k, geo.height);
    if geo.planes() == 0 || geo.out_height() == 0 || w == 0 {
        return vec![0f32; x.len()];
    }
    let out_plane = geo.out_height() * w;
    // Each job writes the gradient of one plane of x (zero but at each window's maximum).
    build(x.len(), h * w, |p, dx| {
        let x = &x[p * h * w..][..h * w];
        let dy = &dy[p * out_plane..][..out_plane];
        // Per output row, each frame's running maximum and the band it lies in, updated a
        // whole row at a time with selects (no branch on the data, which real activations
        // make unpredictable).
        let (mut top, mut band) = (vec![0f32; w], vec![0usize; w]);
        for (i, g) in dy.chunks_exact(w).enumerate() {
            top.copy_from_slice(&x[i * k * w..][..w]);
            band.fill(0);
            for j in 1..k {
                let row = &x[(i * k + j) * w..][..w];
                for ((t, b), &v) in top.iter_mut().zip(band.iter_mut()).zip(row) {
                    let above = v > *t;
                    *t = if above { v } else { *t };
                    *b = if above { j } else { *b };
                }
            }
            for (c, (&g, &j)) in g.iter().zip(&band).enumerate() {
                dx[(i * k + j) * w + c] = g;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_by_hand() {
        // one plane, 5 bands (the last dropped with k = 2), 2 frames
        let geo = Geometry {
            batch: 1,
            channels: 1,
            height: 5,
            width: 2,
            k: 2,
        };
        let x = [1.0, 8.0, 3.0, 2.0, 5.0, 5.0, 4.0, 9.0, 7.0, 7.0];
        assert_eq!(forward(&x, &geo), vec![3.0, 8.0, 5.0, 9.0]);
        // ties go to the first maximum
        let dx = backward(&x, &[1.0, 2.0, 3.0, 4.0], &geo);
        assert_eq!(dx, vec![0.0, 2.0, 1.0, 0.0, 3.0, 0.0, 0.0, 4.0, 0.0, 0.0]);
    }
}
