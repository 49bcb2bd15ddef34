//! One-feature baselines: how far a single hand-made descriptor of each song goes in
//! ranking its arousal and valence, and what a constant answer scores. A model that does
//! not beat them has learned nothing a loudness meter does not know.
//!
//! The descriptors are computed from the same log-mel patches the models see (cached,
//! peak-normalised audio, 16 kHz), every frame of every patch:
//! - loudness: the frame's mel-band magnitude summed over bands, in dB (an RMS proxy);
//! - spectral centroid: the magnitude-weighted mean of the bands' centre frequencies, Hz;
//! - onset rate: peaks of the positive spectral flux (summed over bands of the log-mel
//!   rise between frames, values floored 80 dB below the patch's peak) above the patch's mean + 1 standard deviation (and a floor),
//!   per second.
//!
//! Each scores a song by its mean over frames; the direction is fixed beforehand (higher
//! means more aroused, and more positive), never fitted to the labels being scored.

use mer::{FeatureRecipe, Patches};
use serde::{Deserialize, Serialize};

use crate::commands::MusicSet;
use crate::evaluation::PeopleScores;

/// The descriptors of one song.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Descriptors {
    pub loudness_db: f64,
    pub centroid_hz: f64,
    pub onset_rate: f64,
}

/// Names of the descriptors, in the order of [`Descriptors::values`].
pub const DESCRIPTORS: [&str; 3] = ["loudness (dB)", "spectral centroid (Hz)", "onset rate (/s)"];

impl Descriptors {
    pub fn values(&self) -> [f64; 3] {
        [self.loudness_db, self.centroid_hz, self.onset_rate]
    }
}

/// 80 dB in natural-log units of magnitude: 80 / 20 * ln 10.
const TOP_NEPERS: f32 = 9.21;

/// Centre frequency of each mel band: the mean frequency of its filter, weighted.
fn band_centres(recipe: &FeatureRecipe) -> anyhow::Result<Vec<f64>> {
    let fx = mer::features::FeatureExtractor::new(recipe.clone())?;
    let bin_hz = f64::from(recipe.sample_rate) / recipe.n_fft as f64;
    Ok(fx
        .mel_basis()
        .iter()
        .map(|w| {
            let total: f64 = w.iter().sum();
            let weighted: f64 = w
                .iter()
                .enumerate()
                .map(|(k, x)| k as f64 * bin_hz * x)
                .sum();
            if total > 0.0 { weighted / total } else { 0.0 }
        })
        .collect())
}

/// The descriptors of a song's patches; None without patches.
pub fn describe(p: &Patches, recipe: &FeatureRecipe, centres: &[f64]) -> Option<Descriptors> {
    let (mels, frames) = (p.n_mels, p.frames);
    if p.n == 0 || mels != centres.len() {
        return None;
    }
    let frame_seconds = recipe.hop_length as f64 / f64::from(recipe.sample_rate);
    let (mut loud, mut centroid, mut onsets, mut n_frames) = (0.0, 0.0, 0usize, 0usize);
    for i in 0..p.n {
        let patch = p.patch(i);
        // Log magnitudes floored 80 dB below the patch's peak (as librosa's onset strength
        // does), so the ripple of near-silent bands is no flux.
        let floor = patch.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) - TOP_NEPERS;
        let at = |m: usize, t: usize| f64::from(patch[m * frames + t].max(floor));
        let mut flux = Vec::with_capacity(frames);
        for t in 0..frames {
            let (mut sum, mut moment) = (0.0, 0.0);
            for (m, &c) in centres.iter().enumerate() {
                let magnitude = at(m, t).exp();
                sum += magnitude;
                moment += magnitude * c;
            }
            loud += 20.0 * (sum + 1e-10).log10();
            centroid += if sum > 0.0 { moment / sum } else { 0.0 };
            if t > 0 {
                flux.push(
                    (0..mels)
                        .map(|m| (at(m, t) - at(m, t - 1)).max(0.0))
                        .sum::<f64>(),
                );
            }
        }
        n_frames += frames;
        let mean = flux.iter().sum::<f64>() / flux.len().max(1) as f64;
        let sd = (flux.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / flux.len().max(1) as f64)
            .sqrt();
        // An onset rises by at least 0.05 (natural log units) per band on average: the
        // floor keeps the flux's numerical ripple on a steady sound from counting.
        let threshold = (mean + sd).max(0.05 * mels as f64);
        onsets += (1..flux.len().saturating_sub(1))
            .filter(|&t| flux[t] > threshold && flux[t] >= flux[t - 1] && flux[t] > flux[t + 1])
            .count();
    }
    let n = n_frames as f64;
    Some(Descriptors {
        loudness_db: loud / n,
        centroid_hz: centroid / n,
        onset_rate: onsets as f64 / (n * frame_seconds),
    })
}

/// One baseline's scores on a set of songs, against the labels made by people.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineScore {
    pub name: String,
    pub arousal_auc: Option<f64>,
    pub valence_auc: Option<f64>,
    /// Quadrant accuracy over songs (constant answers only).
    pub quadrant_accuracy: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baselines {
    pub songs: usize,
    pub scores: Vec<BaselineScore>,
    /// Each song's descriptors, in the order of the CSV's kept songs.
    pub descriptors: Vec<(String, Descriptors)>,
}

/// The baselines on the given songs of a music set: the most frequent quadrant answered
/// for every song (the best constant answer on this very set, so an upper bound of what a
/// constant scores) and each descriptor's song-level AUC.
pub fn baselines(music: &MusicSet, idx: &[usize]) -> anyhow::Result<Baselines> {
    let recipe = FeatureRecipe::default();
    let centres = band_centres(&recipe)?;
    let mut described = Vec::new();
    for &i in idx {
        if let Some(d) = describe(&music.patches[i], &recipe, &centres) {
            described.push((i, d));
        }
    }
    let songs: Vec<&crate::data::Song> = described.iter().map(|(i, _)| &music.songs[*i]).collect();
    let mut counts = [0usize; 4];
    let people: Vec<&&crate::data::Song> = songs
        .iter()
        .filter(|s| s.arousal_by_people && s.valence_by_people)
        .collect();
    for s in &people {
        counts[s.quadrant.index()] += 1;
    }
    let (majority, most) = counts
        .iter()
        .enumerate()
        .max_by_key(|(q, c)| (**c, std::cmp::Reverse(*q)))
        .map(|(q, c)| (q, *c))
        .unwrap_or((0, 0));
    let mut scores = vec![BaselineScore {
        name: if people.is_empty() {
            "a constant quadrant (no song has both labels by people)".into()
        } else {
            format!("always Q{}", majority + 1)
        },
        arousal_auc: None,
        valence_auc: None,
        quadrant_accuracy: (!people.is_empty()).then(|| most as f64 / people.len() as f64),
    }];
    for (k, name) in DESCRIPTORS.iter().enumerate() {
        let values: Vec<f64> = described.iter().map(|(_, d)| d.values()[k]).collect();
        let auc = PeopleScores::of(&songs, &values, &values, &[]);
        scores.push(BaselineScore {
            name: name.to_string(),
            arousal_auc: auc.arousal_auc,
            valence_auc: auc.valence_auc,
            quadrant_accuracy: None,
        });
    }
    // A teacher's own scores, where the CSV carries them (`TeacherEnergy`,
    // `TeacherValence`: a model's per-song arousal and valence in [0, 1]).
    if songs.iter().all(|s| s.teacher.is_some()) && !songs.is_empty() {
        let pick = |k: usize| -> Vec<f64> {
            songs
                .iter()
                .map(|s| s.teacher.map_or(f64::NAN, |t| t[k]))
                .collect()
        };
        let (energy, valence) = (pick(0), pick(1));
        {
            let auc = PeopleScores::of(&songs, &energy, &valence, &[]);
            scores.push(BaselineScore {
                name: "teacher (TeacherEnergy, TeacherValence)".into(),
                arousal_auc: auc.arousal_auc,
                valence_auc: auc.valence_auc,
                quadrant_accuracy: None,
            });
        }
    }
    Ok(Baselines {
        songs: songs.len(),
        scores,
        descriptors: described
            .iter()
            .map(|(i, d)| (music.songs[*i].name.clone(), *d))
            .collect(),
    })
}

impl Baselines {
    pub fn markdown(&self) -> String {
        let f = |v: Option<f64>| crate::metrics::fmt3(v, "");
        let mut s = format!(
            "Baselines on {} songs, against the labels made by people (AUC: higher descriptor = arousal+ / valence+, fixed beforehand; the constant answer: the most frequent quadrant of the songs with both labels by people).\n\n\
             | baseline | arousal AUC | valence AUC | quadrant accuracy |\n|---|---|---|---|\n",
            self.songs
        );
        for b in &self.scores {
            s += &format!(
                "| {} | {} | {} | {} |\n",
                b.name,
                f(b.arousal_auc),
                f(b.valence_auc),
                f(b.quadrant_accuracy)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patches_of(samples: &[f32]) -> Patches {
        mer::features::FeatureExtractor::new(FeatureRecipe::default())
            .unwrap()
            .patches(samples)
    }

    #[test]
    fn descriptors_follow_loudness_brightness_and_attacks() {
        let recipe = FeatureRecipe::default();
        let centres = band_centres(&recipe).unwrap();
        assert!(centres.windows(2).all(|w| w[0] < w[1]), "centres rise");
        let rate = 16_000.0;
        let tone = |f: f32, gain: f32, clicks_per_s: f32| -> Vec<f32> {
            (0..(4.0 * rate) as usize)
                .map(|i| {
                    let t = i as f32 / rate;
                    let env = if clicks_per_s > 0.0 {
                        (-((t * clicks_per_s).fract()) * 30.0).exp()
                    } else {
                        1.0
                    };
                    gain * env * (2.0 * std::f32::consts::PI * f * t).sin()
                })
                .collect()
        };
        let d = |x: Vec<f32>| describe(&patches_of(&x), &recipe, &centres).unwrap();
        let low = d(tone(300.0, 1.0, 0.0));
        let high = d(tone(3000.0, 1.0, 0.0));
        assert!(high.centroid_hz > 5.0 * low.centroid_hz, "{low:?} {high:?}");
        assert!((low.centroid_hz - 300.0).abs() < 150.0, "{low:?}");
        // No normalisation here: a quieter copy is quieter by its gain, 20 dB.
        let quiet = d(tone(300.0, 0.1, 0.0));
        assert!(
            (low.loudness_db - quiet.loudness_db - 20.0).abs() < 1.0,
            "{low:?} {quiet:?}"
        );
        // Four attacks a second: about four onsets a second; a steady tone: few.
        let clicks = d(tone(1000.0, 1.0, 4.0));
        assert!((clicks.onset_rate - 4.0).abs() < 1.5, "{clicks:?}");
        assert!(low.onset_rate < 1.0, "{low:?}");
    }
}
