//! The CPU kernels of the 3x3 "same" convolution (stride 1, padding 1, no groups) over
//! contiguous f32 NCHW tensors: forward, input gradient and weight gradient, as matrix
//! products by the `gemm` crate burn's CPU backend uses (AVX-512 where the CPU has it,
//! wasm SIMD in the browser), with no im2col copy.
//!
//! The layout that makes it possible: the input is copied once, zero-padded and channels
//! last, to `[batch][(h + 2) (w + 2) + 2][c_in]`, and the output is computed on the
//! padded rows' grid, `h x (w + 2)` positions per sample, of which the last two of each
//! row are junk (2 / w of the work: 6.5 % at the encoder's 31 frames). On that grid, the
//! inputs the three taps `(kh, 0..3)` of one kernel row read for position `p` are the
//! `3 c_in` consecutive values that start at padded position `p + kh (w + 2)`: for a tile
//! of consecutive positions they form a strided matrix the product reads in place, so a
//! tile is three products of depth `3 c_in`, one per kernel row.
//!
//! The input gradient is the forward convolution of the output gradient with the kernel
//! transposed (input and output channels swapped) and flipped; the weight gradient is, per
//! kernel row and tile, the product of the output gradient (on the grid, junk columns
//! zero) with the same strided input matrix, summed over tiles.

use super::{build, for_each};

/// The shape of one 3x3 "same" convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub height: usize,
    pub width: usize,
}

/// Values a tile's matrices hold at most (its input rows, its product): they stay in a
/// core's L2 cache.
const TILE_VALUES: usize = 64 * 1024;

impl Geometry {
    /// Values of the input `[batch, c_in, height, width]`.
    pub fn input_len(&self) -> usize {
        self.batch * self.c_in * self.height * self.width
    }

    /// Values of the output `[batch, c_out, height, width]`.
    pub fn output_len(&self) -> usize {
        self.batch * self.c_out * self.height * self.width
    }

    /// Values of the kernel `[c_out, c_in, 3, 3]`.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.c_in * 9
    }

    /// The same convolution run backwards: output channels in, input channels out.
    fn transposed(&self) -> Self {
        Self {
            c_in: self.c_out,
            c_out: self.c_in,
            ..*self
        }
    }

    fn padded_width(&self) -> usize {
        self.width + 2
    }

    /// Positions per padded sample, with two trailing zeros for the last positions' last
    /// taps.
    fn plane(&self) -> usize {
        (self.height + 2) * self.padded_width() + 2
    }

    /// Output positions per sample on the padded grid, junk columns included.
    fn grid(&self) -> usize {
        self.height * self.padded_width()
    }

    /// The tiles: `(sample, first grid position, positions)`, consecutive positions of one
    /// sample each.
    fn tiles(&self) -> Vec<(usize, usize, usize)> {
        let grid = self.grid();
        let len = (TILE_VALUES / self.c_in.max(self.c_out).max(1))
            .max(64)
            .min(grid)
            .max(1);
        (0..self.batch)
            .flat_map(|s| {
                (0..grid)
                    .step_by(len)
                    .map(move |p| (s, p, len.min(grid - p)))
            })
            .collect()
    }

    /// Splits the grid positions `[p, p + len)` at the grid's rows: `(offset, index in
    /// the sample's height x width plane of the first position, valid positions,
    /// positions)`; the positions past the valid ones are the junk columns.
    fn rows(&self, p: usize, len: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
        let (w, wp) = (self.width, self.padded_width());
        let mut i = 0;
        while i < len {
            let (row, col) = ((p + i) / wp, (p + i) % wp);
            let seg = (wp - col).min(len - i);
            let valid = w.saturating_sub(col).min(seg);
            f(i, row * w + col.min(w), valid, seg);
            i += seg;
        }
    }
}

/// A raw pointer that tiles writing disjoint positions can share across threads.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: every use writes positions no other tile writes (see the call sites).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// Writes `value` at `index`.
    ///
    /// # Safety
    /// `index` is inside the buffer's allocation (initialised or not: the old value is
    /// not read), which outlives every call, and no other thread writes or reads that
    /// index meanwhile.
    unsafe fn write(&self, index: usize, value: f32) {
        // SAFETY: as the caller promises.
        unsafe { self.0.add(index).write(value) };
    }
}

thread_local! {
    /// Per-thread scratch for a tile's product, reused across tiles and calls.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = Default::default();
}

/// Runs `f` with a scratch buffer of `len` values (holding whatever the last user left).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let buf = &mut *s.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// Groups of tiles whose gradients are summed separately, then added in order: a fixed
/// number, so that the sums (and a seeded training run) are the same on any number of
/// cores.
const GROUPS: usize = 8;

/// Folds `items` into zeroed accumulators of `len` values, one per group of consecutive
/// items (the groups on every core with `rayon`), then adds the groups' sums in order.
fn fold_sum<T: Send + Sync>(
    items: Vec<T>,
    len: usize,
    f: impl Fn(&mut [f32], &T) + Send + Sync,
) -> Vec<f32> {
    let per_group = items.len().div_ceil(GROUPS).max(1);
    let groups: Vec<&[T]> = items.chunks(per_group).collect();
    let sum = |group: &[T]| {
        let mut acc = vec![0f32; len];
        group.iter().for_each(|item| f(&mut acc, item));
        acc
    };
    #[cfg(feature = "rayon")]
    let sums: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        groups.into_par_iter().map(sum).collect()
    };
    #[cfg(not(feature = "rayon"))]
    let sums: Vec<Vec<f32>> = groups.into_iter().map(sum).collect();
    let mut sums = sums.into_iter();
    let mut total = sums.next().unwrap_or_else(|| vec![0f32; len]);
    for s in sums {
        total.iter_mut().zip(s).for_each(|(x, y)| *x += y);
    }
    total
}

/// `x [batch, c_in, h, w]` zero-padded and channels last: `[batch][plane][c_in]`.
fn pad(x: &[f32], geo: &Geometry) -> Vec<f32> {
    let (c, h, w, wp, plane) = (
        geo.c_in,
        geo.height,
        geo.width,
        geo.padded_width(),
        geo.plane(),
    );
    build(geo.batch * plane * c, plane * c, |sample, dst| {
        let src = &x[sample * c * h * w..][..c * h * w];
        for r in 0..h {
            let row = &mut dst[((r + 1) * wp + 1) * c..][..w * c];
            transpose(&src[r * w..], h * w, c, w, row, c);
        }
    })
}

/// Four rows of 4 values, loaded from `row(0..4)`, as four columns: SSE shuffles in
/// registers.
///
/// # Safety
/// Each `row(k)` points at 4 readable values.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn columns4(row: impl Fn(usize) -> *const f32) -> [std::arch::x86_64::__m128; 4] {
    use std::arch::x86_64::*;
    // SAFETY: as the caller promises; SSE is part of every x86_64 CPU.
    unsafe {
        let (r0, r1) = (_mm_loadu_ps(row(0)), _mm_loadu_ps(row(1)));
        let (r2, r3) = (_mm_loadu_ps(row(2)), _mm_loadu_ps(row(3)));
        let (t0, t1) = (_mm_unpacklo_ps(r0, r1), _mm_unpackhi_ps(r0, r1));
        let (t2, t3) = (_mm_unpacklo_ps(r2, r3), _mm_unpackhi_ps(r2, r3));
        [
            _mm_movelh_ps(t0, t2),
            _mm_movehl_ps(t2, t0),
            _mm_movelh_ps(t1, t3),
            _mm_movehl_ps(t3, t1),
        ]
    }
}

/// `dst[t dst_stride + u] = src[u src_stride + t]` for `u < rows`, `t < cols`: a block of
/// `rows` strided rows written as `cols` strided rows, in 4 x 4 blocks that SSE transposes
/// in registers where the CPU has it (x86_64), the rest value by value.
fn transpose(
    src: &[f32],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    dst_stride: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        (rows - 1) * src_stride + cols <= src.len() && (cols - 1) * dst_stride + rows <= dst.len(),
        "conv3x3: transpose out of bounds"
    );
    #[cfg(target_arch = "x86_64")]
    let (rows4, cols4) = (rows - rows % 4, cols - cols % 4);
    #[cfg(not(target_arch = "x86_64"))]
    let (rows4, cols4) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of every x86_64 CPU; the blocks lie inside the bounds asserted
    // above (u < rows4 <= rows, t < cols4 <= cols).
    unsafe {
        use std::arch::x86_64::*;
        for u in (0..rows4).step_by(4) {
            for t in (0..cols4).step_by(4) {
                let columns = columns4(|k| src.as_ptr().add((u + k) * src_stride + t));
                let base = dst.as_mut_ptr();
                for (k, c) in columns.into_iter().enumerate() {
                    _mm_storeu_ps(base.add((t + k) * dst_stride + u), c);
                }
            }
        }
    }
    for u in 0..rows {
        let from = if u < rows4 { cols4 } else { 0 };
        for t in from..cols {
            dst[t * dst_stride + u] = src[u * src_stride + t];
        }
    }
}

/// `dst[m x n] (+)= lhs[m x k] rhs[k x n]`, strides in values as (row, column).
#[allow(clippy::too_many_arguments)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_strides: (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
) {
    let fits = |(rs, cs): (usize, usize), rows: usize, cols: usize, len: usize| {
        rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
    };
    assert!(
        fits(dst_strides, m, n, dst.len()),
        "conv3x3: product out of bounds"
    );
    assert!(
        fits(lhs_strides, m, k, lhs.len()),
        "conv3x3: left operand out of bounds"
    );
    assert!(
        fits(rhs_strides, k, n, rhs.len()),
        "conv3x3: right operand out of bounds"
    );
    // SAFETY: the asserts above keep every index the product reads or writes inside the
    // slices, and `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_strides.1 as isize,
            dst_strides.0 as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides.1 as isize,
            lhs_strides.0 as isize,
            rhs.as_ptr(),
            rhs_strides.1 as isize,
            rhs_strides.0 as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The kernel `[c_out, c_in, 3, 3]` as the products' left matrix `[c_out, 9 c_in]`,
/// stored column by column (`[9 c_in][c_out]`), its columns in the order (kh, kw, input
/// channel): kernel row `kh` is the block of `3 c_in` columns from `3 kh c_in`.
fn kernel_matrix(weight: &[f32], geo: &Geometry) -> Vec<f32> {
    let (ci_n, co_n) = (geo.c_in, geo.c_out);
    let mut a = vec![0f32; geo.weight_len()];
    for co in 0..co_n {
        for ci in 0..ci_n {
            for tap in 0..9 {
                a[(tap * ci_n + ci) * co_n + co] = weight[(co * ci_n + ci) * 9 + tap];
            }
        }
    }
    a
}

/// What the forward pass applies to each output value `v` of channel `c` as it writes it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// `v + bias[c]`
    pub bias: Option<&'a [f32]>,
    /// then `max(v, 0) scale[c] + shift[c]`: a ReLU followed by an inference BatchNorm.
    pub relu_affine: Option<(&'a [f32], &'a [f32])>,
}

/// Writes the epilogue of `acc`'s positions `[i, i + j4)` for channels `[0, co4)` to the
/// output, position `j` of channel `co` at `index(co, j)`, in blocks of 4 positions x 4
/// channels that SSE transposes in registers (`acc` is `[position][c_out]`, the output
/// channel-major). Returns `(co4, j4)`, the channels and positions it wrote; the caller
/// writes the rest. Without SSE (wasm), writes nothing.
#[allow(unused_variables)]
fn blocked_scatter(
    acc: &[f32],
    i: usize,
    c_out: usize,
    valid: usize,
    epilogue: &Epilogue,
    index: impl Fn(usize, usize) -> usize,
    out: Shared,
) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let (co4, j4) = (c_out - c_out % 4, valid - valid % 4);
        assert!(
            j4 == 0 || co4 == 0 || (i + j4 - 1) * c_out + co4 <= acc.len(),
            "conv3x3: product out of bounds"
        );
        let relu = epilogue.relu_affine.is_some();
        let bias = epilogue.bias;
        let (scale, shift) = epilogue.relu_affine.unzip();
        // SAFETY: SSE is part of every x86_64 CPU; the assert above keeps the values read
        // inside `acc`, and the caller's `index` gives, for each channel, 4 consecutive
        // output positions inside the output that only this tile writes.
        unsafe {
            for co in (0..co4).step_by(4) {
                let (mut b, mut sc, mut sh) = (
                    [_mm_setzero_ps(); 4],
                    [_mm_set1_ps(1.0); 4],
                    [_mm_setzero_ps(); 4],
                );
                for u in 0..4 {
                    b[u] = _mm_set1_ps(bias.map_or(0.0, |v| v[co + u]));
                    sc[u] = _mm_set1_ps(scale.map_or(1.0, |v| v[co + u]));
                    sh[u] = _mm_set1_ps(shift.map_or(0.0, |v| v[co + u]));
                }
                for j in (0..j4).step_by(4) {
                    let columns = columns4(|t| acc.as_ptr().add((i + j + t) * c_out + co));
                    for u in 0..4 {
                        let mut v = _mm_add_ps(columns[u], b[u]);
                        if relu {
                            // max(v, 0) as f32::max gives it: 0 where v is NaN.
                            let r = _mm_max_ps(v, _mm_setzero_ps());
                            v = _mm_add_ps(_mm_mul_ps(r, sc[u]), sh[u]);
                        }
                        _mm_storeu_ps(out.0.add(index(co + u, j)), v);
                    }
                }
            }
        }
        (co4, j4)
    }
    #[cfg(not(target_arch = "x86_64"))]
    (0, 0)
}

/// Forward: `x [batch, c_in, h, w]`, `weight [c_out, c_in, 3, 3]`, optional `bias [c_out]`
/// -> `[batch, c_out, h, w]`.
pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, geo: &Geometry) -> Vec<f32> {
    forward_with(
        x,
        weight,
        Epilogue {
            bias,
            relu_affine: None,
        },
        geo,
    )
}

/// [`forward`], each output value passed through `epilogue`.
pub fn forward_with(x: &[f32], weight: &[f32], epilogue: Epilogue, geo: &Geometry) -> Vec<f32> {
    let bias = epilogue.bias;
    assert_eq!(x.len(), geo.input_len(), "conv3x3: input of the wrong size");
    assert_eq!(
        weight.len(),
        geo.weight_len(),
        "conv3x3: kernel of the wrong size"
    );
    if let Some(b) = bias {
        assert_eq!(b.len(), geo.c_out, "conv3x3: bias of the wrong size");
    }
    if let Some((scale, shift)) = epilogue.relu_affine {
        assert!(
            scale.len() == geo.c_out && shift.len() == geo.c_out,
            "conv3x3: scale or shift of the wrong size"
        );
    }
    let xp = pad(x, geo);
    let a = kernel_matrix(weight, geo);
    // Written value by value by the tiles below, which cover every output value once.
    let mut y: Vec<f32> = Vec::with_capacity(geo.output_len());
    let out = Shared(y.as_mut_ptr());
    let (c_in, c_out, wp, plane) = (geo.c_in, geo.c_out, geo.padded_width(), geo.plane());
    let plane_out = geo.height * geo.width;
    for_each(geo.tiles(), |(sample, p, n)| {
        with_scratch(n * c_out, |acc| {
            // acc [n][c_out] (+)= kernel row kh [c_out, 3 c_in] x the inputs it reads.
            for kh in 0..3 {
                let start = (sample * plane + p + kh * wp) * c_in;
                matmul(
                    (c_out, n, 3 * c_in),
                    acc,
                    (1, c_out),
                    kh > 0,
                    &a[kh * 3 * c_in * c_out..][..3 * c_in * c_out],
                    (1, c_out),
                    &xp[start..],
                    (1, c_in),
                );
            }
            geo.rows(p, n, |i, q, valid, _| {
                // Blocks of 4 positions x 4 channels transposed in registers where the CPU
                // has them; the rest value by value.
                let (co4, j4) = blocked_scatter(
                    acc,
                    i,
                    c_out,
                    valid,
                    &epilogue,
                    |co, j| (sample * c_out + co) * plane_out + q + j,
                    out,
                );
                for co in 0..c_out {
                    let from = if co < co4 { j4 } else { 0 };
                    let b = bias.map_or(0.0, |b| b[co]);
                    let (scale, shift) = epilogue
                        .relu_affine
                        .map_or((1.0, 0.0), |(a, s)| (a[co], s[co]));
                    let relu = epilogue.relu_affine.is_some();
                    let base = (sample * c_out + co) * plane_out + q;
                    for j in from..valid {
                        let v = acc[(i + j) * c_out + co] + b;
                        let v = if relu { v.max(0.0) * scale + shift } else { v };
                        // SAFETY: `base + j` < y.len(), and each (sample, channel, position)
                        // belongs to exactly one tile, so no two threads write the same
                        // value; `y` outlives the loop.
                        unsafe { out.write(base + j, v) };
                    }
                }
            });
        });
    });
    // SAFETY: the tiles split each sample's grid positions among them, and `rows` maps
    // the valid positions of the grid one to one onto the sample's `h w` positions, each
    // written above for every channel: all `output_len` values are initialised.
    unsafe { y.set_len(geo.output_len()) };
    y
}

/// The input gradient: `dy [batch, c_out, h, w]` and the kernel -> `[batch, c_in, h, w]`.
pub fn input_grad(dy: &[f32], weight: &[f32], geo: &Geometry) -> Vec<f32> {
    assert_eq!(
        weight.len(),
        geo.weight_len(),
        "conv3x3: kernel of the wrong size"
    );
    // The transposed, flipped kernel: w'[ci, co, kh, kw] = w[co, ci, 2 - kh, 2 - kw].
    let mut flipped = vec![0f32; weight.len()];
    for co in 0..geo.c_out {
        for ci in 0..geo.c_in {
            for tap in 0..9 {
                flipped[(ci * geo.c_out + co) * 9 + 8 - tap] =
                    weight[(co * geo.c_in + ci) * 9 + tap];
            }
        }
    }
    forward(dy, &flipped, None, &geo.transposed())
}

/// The kernel's and the bias's gradients: `x [batch, c_in, h, w]` and `dy [batch, c_out,
/// h, w]` -> (`[c_out, c_in, 3, 3]`, `[c_out]`).
pub fn weight_grad(x: &[f32], dy: &[f32], geo: &Geometry) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), geo.input_len(), "conv3x3: input of the wrong size");
    assert_eq!(
        dy.len(),
        geo.output_len(),
        "conv3x3: gradient of the wrong size"
    );
    let xp = pad(x, geo);
    let (c_in, c_out, wp, plane) = (geo.c_in, geo.c_out, geo.padded_width(), geo.plane());
    let (plane_out, kernel_len) = (geo.height * geo.width, geo.weight_len());
    // The accumulator holds the kernel matrix [9 c_in][c_out], then the bias [c_out].
    let acc = fold_sum(geo.tiles(), kernel_len + c_out, |acc, &(sample, p, n)| {
        with_scratch(n * c_out, |grad| {
            // grad [n][c_out]: the tile's output gradient, zero on the junk columns.
            geo.rows(p, n, |i, q, valid, seg| {
                if c_out > 0 {
                    let src = &dy[sample * c_out * plane_out + q..];
                    transpose(src, plane_out, c_out, valid, &mut grad[i * c_out..], c_out);
                }
                grad[(i + valid) * c_out..(i + seg) * c_out].fill(0.0);
            });
            let (kernel, bias) = acc.split_at_mut(kernel_len);
            for kh in 0..3 {
                let start = (sample * plane + p + kh * wp) * c_in;
                // kernel row kh [3 c_in][c_out] += grad^T x the inputs it reads.
                matmul(
                    (c_out, 3 * c_in, n),
                    &mut kernel[kh * 3 * c_in * c_out..][..3 * c_in * c_out],
                    (1, c_out),
                    true,
                    grad,
                    (1, c_out),
                    &xp[start..],
                    (c_in, 1),
                );
            }
            for row in grad.chunks_exact(c_out.max(1)) {
                bias.iter_mut().zip(row).for_each(|(b, g)| *b += g);
            }
        });
    });
    let mut weight = vec![0f32; kernel_len];
    for co in 0..c_out {
        for ci in 0..c_in {
            for tap in 0..9 {
                weight[(co * c_in + ci) * 9 + tap] = acc[(tap * c_in + ci) * c_out + co];
            }
        }
    }
    (weight, acc[kernel_len..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution as its definition, one value at a time.
    fn reference(x: &[f32], weight: &[f32], geo: &Geometry) -> Vec<f32> {
        let (h, w) = (geo.height as isize, geo.width as isize);
        let mut y = vec![0f32; geo.output_len()];
        for s in 0..geo.batch {
            for co in 0..geo.c_out {
                for r in 0..h {
                    for c in 0..w {
                        let mut sum = 0f32;
                        for ci in 0..geo.c_in {
                            for kh in 0..3isize {
                                for kw in 0..3isize {
                                    let (rr, cc) = (r + kh - 1, c + kw - 1);
                                    if rr < 0 || cc < 0 || rr >= h || cc >= w {
                                        continue;
                                    }
                                    let xi = ((s * geo.c_in + ci) as isize * h + rr) * w + cc;
                                    let wi = (co * geo.c_in + ci) * 9 + (kh * 3 + kw) as usize;
                                    sum += x[xi as usize] * weight[wi];
                                }
                            }
                        }
                        y[((s * geo.c_out + co) as isize * h * w + r * w + c) as usize] = sum;
                    }
                }
            }
        }
        y
    }

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "value {i}: {x} vs {y}"
            );
        }
    }

    const SHAPES: [Geometry; 3] = [
        Geometry {
            batch: 2,
            c_in: 1,
            c_out: 4,
            height: 8,
            width: 5,
        },
        Geometry {
            batch: 3,
            c_in: 5,
            c_out: 3,
            height: 4,
            width: 7,
        },
        // more positions than one tile holds: tiles split inside a sample
        Geometry {
            batch: 2,
            c_in: 40,
            c_out: 6,
            height: 20,
            width: 31,
        },
    ];

    /// No channels, no rows or no samples: outputs of the right (possibly empty) size,
    /// zero gradients, no panic.
    #[test]
    fn empty_shapes_give_empty_or_zero_results() {
        let geo = |batch, c_out, height| Geometry {
            batch,
            c_in: 3,
            c_out,
            height,
            width: 5,
        };
        for geo in [geo(2, 0, 4), geo(2, 4, 0), geo(0, 4, 4)] {
            let x = values(geo.input_len(), 1);
            let weight = values(geo.weight_len(), 2);
            let dy = values(geo.output_len(), 3);
            assert_eq!(forward(&x, &weight, None, &geo).len(), geo.output_len());
            assert_eq!(input_grad(&dy, &weight, &geo), vec![0.0; geo.input_len()]);
            let (dw, db) = weight_grad(&x, &dy, &geo);
            assert_eq!((dw.len(), db.len()), (geo.weight_len(), geo.c_out));
            assert!(dw.iter().chain(&db).all(|&v| v == 0.0), "{geo:?}");
        }
    }

    #[test]
    fn forward_matches_the_definition() {
        for geo in SHAPES {
            let x = values(geo.input_len(), 1);
            let weight = values(geo.weight_len(), 2);
            let bias: Vec<f32> = (0..geo.c_out).map(|i| i as f32 * 0.5).collect();
            let mut expected = reference(&x, &weight, &geo);
            for (i, v) in expected.iter_mut().enumerate() {
                *v += bias[(i / (geo.height * geo.width)) % geo.c_out];
            }
            close(&forward(&x, &weight, Some(&bias), &geo), &expected, 1e-5);
        }
    }

    /// <dy, conv(x, w)> is linear in x and in w: its gradients are what the two backward
    /// kernels compute, checked here through the definition with unit vectors.
    #[test]
    fn gradients_match_the_definition() {
        for geo in SHAPES {
            let x = values(geo.input_len(), 3);
            let weight = values(geo.weight_len(), 4);
            let dy = values(geo.output_len(), 5);
            let dot = |x: &[f32], w: &[f32]| -> f32 {
                reference(x, w, &geo)
                    .iter()
                    .zip(&dy)
                    .map(|(a, b)| a * b)
                    .sum()
            };
            let dx = input_grad(&dy, &weight, &geo);
            let (dw, db) = weight_grad(&x, &dy, &geo);
            for i in (0..x.len()).step_by(x.len() / 13 + 1) {
                let mut e = vec![0f32; x.len()];
                e[i] = 1.0;
                let expected = dot(&e, &weight);
                assert!(
                    (dx[i] - expected).abs() < 1e-4 * (1.0 + expected.abs()),
                    "dx[{i}]"
                );
            }
            for i in (0..weight.len()).step_by(weight.len() / 11 + 1) {
                let mut e = vec![0f32; weight.len()];
                e[i] = 1.0;
                let expected = dot(&x, &e);
                assert!(
                    (dw[i] - expected).abs() < 1e-3 * (1.0 + expected.abs()),
                    "dw[{i}]"
                );
            }
            let plane = geo.height * geo.width;
            for (co, g) in db.iter().enumerate() {
                let expected: f32 = (0..geo.batch)
                    .map(|s| {
                        dy[(s * geo.c_out + co) * plane..][..plane]
                            .iter()
                            .sum::<f32>()
                    })
                    .sum();
                assert!(
                    (g - expected).abs() < 1e-3 * (1.0 + expected.abs()),
                    "db[{co}]"
                );
            }
        }
    }
}
