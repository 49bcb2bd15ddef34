//! The feature recipe of the paper's code, reproduced numerically from librosa 0.7:
//! `|stft(y, n_fft=2048, win_length=1024, hop_length=512, center=True)|` with reflect
//! padding, a 128-band Slaney mel filterbank, `ln(S + f32::EPSILON)`, then patches of 31
//! frames every 15 frames. See docs/METHOD.md, "Features".

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use crate::MerError;

/// Every number that defines the features. Stored in each model file; a model is refused
/// when its recipe differs from the one this code computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRecipe {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub win_length: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    pub fmin: f64,
    pub fmax: f64,
    /// "slaney" mel scale with Slaney area normalisation (librosa's defaults).
    pub mel_scale: String,
    /// Padding of the centred STFT: "reflect" (librosa 0.7).
    pub pad_mode: String,
    /// Magnitude (1) or power (2) spectrogram.
    pub power: f64,
    /// `ln(S + log_eps)`.
    pub log_eps: f64,
    pub patch_frames: usize,
    pub patch_hop: usize,
}

impl Default for FeatureRecipe {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            n_fft: 2048,
            win_length: 1024,
            hop_length: 512,
            n_mels: 128,
            fmin: 0.0,
            fmax: 8_000.0,
            mel_scale: "slaney".into(),
            pad_mode: "reflect".into(),
            power: 1.0,
            log_eps: f64::from(f32::EPSILON),
            patch_frames: 31,
            // int(31 * 0.5): 50 % overlap
            patch_hop: 15,
        }
    }
}

impl FeatureRecipe {
    /// Seconds between the starts of two consecutive patches.
    pub fn patch_hop_seconds(&self) -> f64 {
        (self.patch_hop * self.hop_length) as f64 / f64::from(self.sample_rate)
    }

    /// Seconds covered by one patch.
    pub fn patch_seconds(&self) -> f64 {
        (self.patch_frames * self.hop_length) as f64 / f64::from(self.sample_rate)
    }

    /// Fewest samples that give one patch: `1 + len / hop >= patch_frames`.
    pub fn min_samples(&self) -> usize {
        (self.patch_frames - 1) * self.hop_length
    }

    /// Refuses audio too short for one patch, saying how long it is and a patch needs.
    pub fn check_long_enough(&self, samples: usize) -> Result<(), MerError> {
        if self.patches(self.frames(samples)) > 0 {
            return Ok(());
        }
        let rate = f64::from(self.sample_rate);
        Err(MerError::Audio(format!(
            "too short: {:.2} s of audio, one patch needs {:.2} s",
            samples as f64 / rate,
            self.min_samples() as f64 / rate
        )))
    }

    /// Number of STFT frames for `len` samples (centred).
    pub fn frames(&self, len: usize) -> usize {
        if len == 0 {
            0
        } else {
            1 + len / self.hop_length
        }
    }

    /// Number of patches for `n_frames` frames.
    pub fn patches(&self, n_frames: usize) -> usize {
        if n_frames < self.patch_frames {
            0
        } else {
            1 + (n_frames - self.patch_frames) / self.patch_hop
        }
    }
}

/// A log-mel spectrogram, mel-major: `data[m * n_frames + t]`.
#[derive(Debug, Clone)]
pub struct LogMel {
    pub n_mels: usize,
    pub n_frames: usize,
    pub data: Vec<f32>,
}

/// Patches laid out as `(n, 1, n_mels, patch_frames)`, channels first, row-major.
#[derive(Debug, Clone)]
pub struct Patches {
    pub n: usize,
    pub n_mels: usize,
    pub frames: usize,
    pub data: Vec<f32>,
}

impl Patches {
    pub fn shape(&self) -> [usize; 4] {
        [self.n, 1, self.n_mels, self.frames]
    }

    /// The values of patch `i`.
    pub fn patch(&self, i: usize) -> &[f32] {
        let len = self.n_mels * self.frames;
        &self.data[i * len..(i + 1) * len]
    }
}

/// One mel band: its first FFT bin and its weights.
#[derive(Debug, Clone)]
struct Band {
    start: usize,
    /// float32, as librosa's `filters.mel` returns them.
    weights: Vec<f32>,
}

/// Computes the recipe's features. Build once, reuse for many songs.
pub struct FeatureExtractor {
    recipe: FeatureRecipe,
    window: Vec<f64>,
    /// First and one-past-last non-zero sample of the window.
    window_span: (usize, usize),
    bands: Vec<Band>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("recipe", &self.recipe)
            .finish_non_exhaustive()
    }
}

impl Default for FeatureExtractor {
    fn default() -> Self {
        Self::new(FeatureRecipe::default()).expect("the default recipe is valid")
    }
}

impl FeatureExtractor {
    pub fn new(recipe: FeatureRecipe) -> Result<Self, MerError> {
        let r = &recipe;
        let valid = r.n_fft > 0
            && r.win_length > 0
            && r.win_length <= r.n_fft
            && r.hop_length > 0
            && r.n_mels > 0
            && r.patch_frames > 0
            && r.patch_hop > 0
            && r.sample_rate > 0
            && r.fmax > r.fmin
            && r.mel_scale == "slaney"
            && r.pad_mode == "reflect"
            && (r.power == 1.0 || r.power == 2.0);
        if !valid {
            return Err(MerError::Recipe(format!(
                "unsupported feature recipe: {recipe:?}"
            )));
        }
        let window = padded_hann(r.win_length, r.n_fft);
        let window_span = (
            window.iter().position(|w| *w != 0.0).unwrap_or(0),
            window.iter().rposition(|w| *w != 0.0).map_or(0, |i| i + 1),
        );
        let bands = slaney_mel_bands(r.sample_rate, r.n_fft, r.n_mels, r.fmin, r.fmax);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(r.n_fft);
        Ok(Self {
            recipe,
            window,
            window_span,
            bands,
            fft,
        })
    }

    pub fn recipe(&self) -> &FeatureRecipe {
        &self.recipe
    }

    /// The dense mel filterbank `(n_mels, n_fft / 2 + 1)`, as librosa's `filters.mel`.
    pub fn mel_basis(&self) -> Vec<Vec<f64>> {
        let n_bins = self.recipe.n_fft / 2 + 1;
        self.bands
            .iter()
            .map(|b| {
                let mut row = vec![0.0; n_bins];
                for (x, w) in row[b.start..].iter_mut().zip(&b.weights) {
                    *x = f64::from(*w);
                }
                row
            })
            .collect()
    }

    /// Log-mel spectrogram of mono samples at the recipe's rate (already normalised).
    ///
    /// The FFT runs in f64 (as librosa's, whose float32 frames meet a float64 window); the
    /// magnitude, the mel product and the log then run in f32, as in librosa. With the
    /// `rayon` feature (native), blocks of frames are computed on every core.
    pub fn log_mel(&self, samples: &[f32]) -> LogMel {
        let n_frames = self.recipe.frames(samples.len());
        let n_mels = self.recipe.n_mels;
        // Frame-major while computing (each block of frames is contiguous), then transposed.
        let mut frame_major = vec![0f32; n_mels * n_frames];
        const BLOCK: usize = 64;
        let block = |(b, out): (usize, &mut [f32])| self.frames_into(samples, b * BLOCK, out);
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            frame_major
                .par_chunks_mut(BLOCK * n_mels)
                .enumerate()
                .for_each(block);
        }
        #[cfg(not(feature = "rayon"))]
        frame_major
            .chunks_mut(BLOCK * n_mels)
            .enumerate()
            .for_each(block);
        let mut data = vec![0f32; n_mels * n_frames];
        for (t, row) in frame_major.chunks_exact(n_mels).enumerate() {
            for (m, x) in row.iter().enumerate() {
                data[m * n_frames + t] = *x;
            }
        }
        LogMel {
            n_mels,
            n_frames,
            data,
        }
    }

    /// Log-mel rows (one per frame, `n_mels` values each) of the frames from `first` on,
    /// as many as `out` holds.
    fn frames_into(&self, samples: &[f32], first: usize, out: &mut [f32]) {
        let r = &self.recipe;
        let pad = (r.n_fft / 2) as isize;
        let len = samples.len() as isize;
        // Only the window's non-zero span is read; the rest of the frame is 0.
        let (w_start, w_end) = self.window_span;
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut magnitude = vec![0f32; spectrum.len()];
        let log_eps = r.log_eps as f32;
        for (k, row) in out.chunks_exact_mut(r.n_mels).enumerate() {
            let origin = ((first + k) * r.hop_length) as isize - pad;
            // The FFT uses its input as scratch: clear what lies outside the window.
            frame[..w_start].fill(0.0);
            frame[w_end..].fill(0.0);
            let window = &self.window[w_start..w_end];
            let (a, b) = (origin + w_start as isize, origin + w_end as isize);
            if a >= 0 && b <= len {
                let src = &samples[a as usize..b as usize];
                for ((x, w), y) in frame[w_start..w_end].iter_mut().zip(window).zip(src) {
                    *x = f64::from(*y) * w;
                }
            } else {
                // Near the ends: numpy's reflect padding.
                for (i, (x, w)) in frame[w_start..w_end].iter_mut().zip(window).enumerate() {
                    *x = f64::from(samples[reflect(a + i as isize, len)]) * w;
                }
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffers come from the planner");
            for (m, c) in magnitude.iter_mut().zip(&spectrum) {
                let p = (c.re * c.re + c.im * c.im) as f32;
                *m = if r.power == 2.0 { p } else { p.sqrt() };
            }
            for (y, band) in row.iter_mut().zip(&self.bands) {
                let s: f32 = band
                    .weights
                    .iter()
                    .zip(&magnitude[band.start..])
                    .map(|(w, x)| w * x)
                    .sum();
                *y = (s + log_eps).ln();
            }
        }
    }

    /// Cuts a log-mel spectrogram into the recipe's patches.
    pub fn patches_of(&self, mel: &LogMel) -> Patches {
        let r = &self.recipe;
        let n = r.patches(mel.n_frames);
        let per = mel.n_mels * r.patch_frames;
        let mut data = vec![0f32; n * per];
        for p in 0..n {
            let t0 = p * r.patch_hop;
            for m in 0..mel.n_mels {
                let src = &mel.data[m * mel.n_frames + t0..m * mel.n_frames + t0 + r.patch_frames];
                let dst = p * per + m * r.patch_frames;
                data[dst..dst + r.patch_frames].copy_from_slice(src);
            }
        }
        Patches {
            n,
            n_mels: mel.n_mels,
            frames: r.patch_frames,
            data,
        }
    }

    /// Patches of mono samples at the recipe's rate (already normalised).
    pub fn patches(&self, samples: &[f32]) -> Patches {
        self.patches_of(&self.log_mel(samples))
    }
}

/// numpy's `reflect` padding (edge not repeated), for any distance outside `[0, len)`.
fn reflect(i: isize, len: isize) -> usize {
    if len <= 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let mut j = i.rem_euclid(period);
    if j >= len {
        j = period - j;
    }
    j as usize
}

/// Periodic Hann window of `win_length`, zero-padded to `n_fft` in the middle of the frame
/// (scipy's `get_window('hann', win_length, fftbins=True)` + librosa's `pad_center`).
fn padded_hann(win_length: usize, n_fft: usize) -> Vec<f64> {
    let mut w = vec![0.0; n_fft];
    let lpad = (n_fft - win_length) / 2;
    for i in 0..win_length {
        w[lpad + i] = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / win_length as f64).cos();
    }
    w
}

/// Slaney's mel scale (linear below 1 kHz, logarithmic above), as librosa's `hz_to_mel`.
fn hz_to_mel(hz: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// librosa's `filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney')`, kept
/// sparse (each triangle spans a few bins).
fn slaney_mel_bands(sr: u32, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Vec<Band> {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * f64::from(sr) / n_fft as f64)
        .collect();
    let (mel_min, mel_max) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mel_min + (mel_max - mel_min) * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let (lo, mid, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
            let enorm = 2.0 / (hi - lo);
            let row: Vec<f64> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - lo) / (mid - lo);
                    let upper = (hi - f) / (hi - mid);
                    lower.min(upper).max(0.0) * enorm
                })
                .collect();
            let start = row.iter().position(|w| *w != 0.0).unwrap_or(0);
            let end = row.iter().rposition(|w| *w != 0.0).map_or(start, |i| i + 1);
            Band {
                start,
                weights: row[start..end].iter().map(|&w| w as f32).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_numpy() {
        // np.pad([0,1,2,3], 5, 'reflect') -> [1 2 3 2 1 | 0 1 2 3 | 2 1 0 1 2]
        let got: Vec<usize> = (-5..9).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
    }

    #[test]
    fn frame_and_patch_counts() {
        let r = FeatureRecipe::default();
        assert_eq!(r.frames(16_000), 32);
        assert_eq!(r.patches(30), 0);
        assert_eq!(r.patches(31), 1);
        assert_eq!(r.patches(46), 2);
        assert_eq!(r.frames(r.min_samples()), 31);
        assert_eq!(r.frames(r.min_samples() - 1), 30);
    }

    #[test]
    fn silence_is_log_eps() {
        let fx = FeatureExtractor::default();
        let mel = fx.log_mel(&vec![0.0; 16_000]);
        let expected = (f64::from(f32::EPSILON)).ln() as f32;
        assert!(mel.data.iter().all(|x| (*x - expected).abs() < 1e-6));
    }
}
