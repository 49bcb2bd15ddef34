//! Song-level answers from patch-level probabilities.

use serde::{Deserialize, Serialize};

use crate::FeatureRecipe;

/// The four quadrants of Russell's arousal-valence plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quadrant {
    Q1,
    Q2,
    Q3,
    Q4,
}

impl Quadrant {
    pub const ALL: [Quadrant; 4] = [Quadrant::Q1, Quadrant::Q2, Quadrant::Q3, Quadrant::Q4];

    /// The quadrant head's class names, in output order.
    pub const NAMES: [&'static str; 4] = ["Q1", "Q2", "Q3", "Q4"];

    /// The arousal and valence heads' class names, in output order.
    pub const SIGN_NAMES: [&'static str; 2] = ["negative", "positive"];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: usize) -> Option<Self> {
        Self::ALL.get(i).copied()
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The usual words for the quadrant.
    pub fn description(self) -> &'static str {
        [
            "happy / excited",
            "tense / angry",
            "sad / depressed",
            "calm / tender",
        ][self.index()]
    }

    /// Arousal is positive in Q1 and Q2.
    pub fn arousal_positive(self) -> bool {
        matches!(self, Quadrant::Q1 | Quadrant::Q2)
    }

    /// Valence is positive in Q1 and Q4.
    pub fn valence_positive(self) -> bool {
        matches!(self, Quadrant::Q1 | Quadrant::Q4)
    }

    /// The quadrant of a point of the arousal-valence plane (signs around the midpoint).
    pub fn from_signs(arousal_positive: bool, valence_positive: bool) -> Self {
        match (arousal_positive, valence_positive) {
            (true, true) => Quadrant::Q1,
            (true, false) => Quadrant::Q2,
            (false, false) => Quadrant::Q3,
            (false, true) => Quadrant::Q4,
        }
    }
}

impl std::fmt::Display for Quadrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Quadrant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "Q1" | "1" => Ok(Quadrant::Q1),
            "Q2" | "2" => Ok(Quadrant::Q2),
            "Q3" | "3" => Ok(Quadrant::Q3),
            "Q4" | "4" => Ok(Quadrant::Q4),
            other => Err(format!("unknown quadrant {other:?} (expected Q1..Q4)")),
        }
    }
}

/// The classifier's three outputs for one patch (softmax probabilities).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatchProbabilities {
    pub quadrant: [f32; 4],
    /// [P(arousal -), P(arousal +)]
    pub arousal: [f32; 2],
    /// [P(valence -), P(valence +)]
    pub valence: [f32; 2],
}

impl PatchProbabilities {
    /// Numbers per patch in the flat row layout: Q1..Q4, P(arousal -), P(arousal +),
    /// P(valence -), P(valence +). The order of the classifier's heads concatenated, and
    /// of the rows the web worker hands to JavaScript (which reads this width from it).
    pub const WIDTH: usize = 8;

    /// A patch from its row (`row.len() == WIDTH`).
    pub fn from_row(row: &[f32]) -> Self {
        Self {
            quadrant: [row[0], row[1], row[2], row[3]],
            arousal: [row[4], row[5]],
            valence: [row[6], row[7]],
        }
    }

    /// The patch as a row.
    pub fn row(&self) -> [f32; Self::WIDTH] {
        let [q1, q2, q3, q4] = self.quadrant;
        let [a0, a1] = self.arousal;
        let [v0, v1] = self.valence;
        [q1, q2, q3, q4, a0, a1, v0, v1]
    }
}

/// The index of the largest value (the first of equals; 0 when empty).
pub fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 { (i, x) } else { best }
        })
        .0
}

/// One patch (about one second) of a song.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentPrediction {
    /// Start and end of the patch in seconds.
    pub start: f64,
    pub end: f64,
    pub quadrant: Quadrant,
    /// Q1..Q4
    pub probabilities: [f32; 4],
    /// P(arousal +)
    pub arousal: f32,
    /// P(valence +)
    pub valence: f32,
}

/// The song-level answer: the mean of the patch probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SongPrediction {
    pub quadrant: Quadrant,
    /// Q1..Q4
    pub probabilities: [f32; 4],
    /// P(arousal +)
    pub arousal: f32,
    /// P(valence +)
    pub valence: f32,
    pub segments: Vec<SegmentPrediction>,
}

impl SongPrediction {
    /// Averages patch probabilities into a song-level answer. `None` without patches.
    pub fn from_patches(recipe: &FeatureRecipe, patches: &[PatchProbabilities]) -> Option<Self> {
        if patches.is_empty() {
            return None;
        }
        let n = patches.len() as f32;
        let mut q = [0f32; 4];
        let (mut a, mut v) = (0f32, 0f32);
        for p in patches {
            q.iter_mut().zip(p.quadrant).for_each(|(s, x)| *s += x);
            a += p.arousal[1];
            v += p.valence[1];
        }
        q.iter_mut().for_each(|x| *x /= n);
        let hop = recipe.patch_hop_seconds();
        let len = recipe.patch_seconds();
        let segments = patches
            .iter()
            .enumerate()
            .map(|(i, p)| SegmentPrediction {
                start: i as f64 * hop,
                end: i as f64 * hop + len,
                quadrant: Quadrant::from_index(argmax(&p.quadrant)).expect("4 classes"),
                probabilities: p.quadrant,
                arousal: p.arousal[1],
                valence: p.valence[1],
            })
            .collect();
        Some(Self {
            quadrant: Quadrant::from_index(argmax(&q)).expect("4 classes"),
            probabilities: q,
            arousal: a / n,
            valence: v / n,
            segments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadrant_signs() {
        for q in Quadrant::ALL {
            assert_eq!(
                Quadrant::from_signs(q.arousal_positive(), q.valence_positive()),
                q
            );
        }
        assert_eq!("q3".parse::<Quadrant>(), Ok(Quadrant::Q3));
        assert!("Q5".parse::<Quadrant>().is_err());
    }

    #[test]
    fn song_is_mean_of_patches() {
        let r = FeatureRecipe::default();
        let p1 = PatchProbabilities {
            quadrant: [0.7, 0.1, 0.1, 0.1],
            arousal: [0.2, 0.8],
            valence: [0.4, 0.6],
        };
        let p2 = PatchProbabilities {
            quadrant: [0.1, 0.1, 0.2, 0.6],
            arousal: [0.6, 0.4],
            valence: [0.0, 1.0],
        };
        let s = SongPrediction::from_patches(&r, &[p1, p2]).unwrap();
        assert_eq!(s.quadrant, Quadrant::Q1);
        assert!((s.probabilities[3] - 0.35).abs() < 1e-6);
        assert!((s.arousal - 0.6).abs() < 1e-6);
        assert!((s.valence - 0.8).abs() < 1e-6);
        assert_eq!(s.segments[1].quadrant, Quadrant::Q4);
        assert!((s.segments[1].start - 0.48).abs() < 1e-9);
        assert!(SongPrediction::from_patches(&r, &[]).is_none());
    }
}
