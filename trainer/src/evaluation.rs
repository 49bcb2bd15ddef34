//! A model's scores on a music set: per task (quadrant, arousal, valence) and level
//! (patches, songs), against the labels made by people and people's continuous ratings;
//! their Markdown, and the compact summary stored in model files.

use anyhow::{Context, Result};
use burn::prelude::*;
use mer::model::Classifier;
use mer::{Quadrant, SongPrediction};
use serde::{Deserialize, Serialize};

use crate::commands::MusicSet;
use crate::data::{self, Song};
use crate::metrics::{Confusion, Scores};

/// Scores of one task: confusion matrix and the averages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskEval {
    pub confusion: Confusion,
    pub scores: Scores,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelEval {
    pub quadrant: TaskEval,
    pub arousal: TaskEval,
    pub valence: TaskEval,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    pub split: String,
    pub songs: usize,
    pub patches: usize,
    /// Every 1-s patch scored (the paper's protocol).
    pub patch: LevelEval,
    /// Every song scored by the mean of its patch probabilities.
    pub song: LevelEval,
    /// Song-level scores against the labels made by people.
    #[serde(default)]
    pub people: PeopleScores,
    /// Correlations with people's continuous ratings, where the music set has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratings: Option<RatingScores>,
}

/// How the model follows people's continuous ratings: across songs, P(arousal+) and
/// P(valence+) against the static ratings (Pearson r, Spearman rho); within songs, the
/// per-patch P(+) at each rated instant (the mean of the patches that cover it) against
/// the ratings over time (Pearson r per song, averaged over the songs where it is defined:
/// not where the predictions or the ratings stay constant, as a model sure of a song,
/// P(+) = 1 at every patch, makes them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RatingScores {
    pub songs: usize,
    pub arousal_pearson: Option<f64>,
    pub arousal_spearman: Option<f64>,
    pub valence_pearson: Option<f64>,
    pub valence_spearman: Option<f64>,
    pub dynamic_arousal_r: Option<f64>,
    /// Songs whose r is in `dynamic_arousal_r`.
    pub dynamic_arousal_songs: usize,
    /// Songs with at least three arousal ratings over time inside their patches.
    #[serde(default)]
    pub dynamic_arousal_rated: usize,
    pub dynamic_valence_r: Option<f64>,
    pub dynamic_valence_songs: usize,
    #[serde(default)]
    pub dynamic_valence_rated: usize,
}

impl RatingScores {
    /// `songs` with their song-level P(arousal+), P(valence+) and per-patch predictions;
    /// None when no song has static ratings.
    fn of(songs: &[&Song], predictions: &[SongPrediction]) -> Option<Self> {
        use crate::metrics::{pearson, spearman};
        let rated: Vec<([f64; 2], &SongPrediction)> = songs
            .iter()
            .zip(predictions)
            .filter_map(|(s, p)| s.ratings.map(|r| (r, p)))
            .collect();
        if rated.is_empty() {
            return None;
        }
        let ra: Vec<f64> = rated.iter().map(|x| x.0[0]).collect();
        let rv: Vec<f64> = rated.iter().map(|x| x.0[1]).collect();
        let pa: Vec<f64> = rated.iter().map(|x| f64::from(x.1.arousal)).collect();
        let pv: Vec<f64> = rated.iter().map(|x| f64::from(x.1.valence)).collect();
        // dim 1: arousal, 2: valence (columns of Song::dynamic).
        let dynamic = |dim: usize| {
            let aligned: Vec<(Vec<f64>, Vec<f64>)> = songs
                .iter()
                .zip(predictions)
                .filter_map(|(s, p)| {
                    let (rating, model): (Vec<f64>, Vec<f64>) = s
                        .dynamic
                        .iter()
                        .filter(|row| row[dim].is_finite())
                        .filter_map(|row| {
                            let t = row[0];
                            let covering: Vec<f64> = p
                                .segments
                                .iter()
                                .filter(|seg| seg.start <= t && t < seg.end)
                                .map(|seg| {
                                    f64::from(if dim == 1 { seg.arousal } else { seg.valence })
                                })
                                .collect();
                            (!covering.is_empty()).then(|| {
                                (
                                    row[dim],
                                    covering.iter().sum::<f64>() / covering.len() as f64,
                                )
                            })
                        })
                        .unzip();
                    (model.len() >= 3).then_some((model, rating))
                })
                .collect();
            let per_song: Vec<f64> = aligned
                .iter()
                .filter_map(|(model, rating)| pearson(model, rating))
                .collect();
            (
                crate::metrics::mean_std(&per_song).map(|m| m.0),
                per_song.len(),
                aligned.len(),
            )
        };
        let (dynamic_arousal_r, dynamic_arousal_songs, dynamic_arousal_rated) = dynamic(1);
        let (dynamic_valence_r, dynamic_valence_songs, dynamic_valence_rated) = dynamic(2);
        Some(Self {
            songs: rated.len(),
            arousal_pearson: pearson(&pa, &ra),
            arousal_spearman: spearman(&pa, &ra),
            valence_pearson: pearson(&pv, &rv),
            valence_spearman: spearman(&pv, &rv),
            dynamic_arousal_r,
            dynamic_arousal_songs,
            dynamic_arousal_rated,
            dynamic_valence_r,
            dynamic_valence_songs,
            dynamic_valence_rated,
        })
    }

    fn markdown(&self) -> String {
        let f = |v: Option<f64>| crate::metrics::fmt3(v, "n/a");
        let mut s = format!(
            "\nSongs against people's continuous ratings ({} songs): arousal Pearson r {}, \
             Spearman rho {} (P(arousal+)); valence Pearson r {}, Spearman rho {} (P(valence+)).\n",
            self.songs,
            f(self.arousal_pearson),
            f(self.arousal_spearman),
            f(self.valence_pearson),
            f(self.valence_spearman)
        );
        if self.dynamic_arousal_rated + self.dynamic_valence_rated > 0 {
            s += &format!(
                "\nWithin songs, against the ratings over time (mean per-song Pearson r of the \
                 per-patch P(+)): arousal {} ({} of {} songs rated over time), valence {} ({} of \
                 {}); r is undefined for a song whose P(+) does not change.\n",
                f(self.dynamic_arousal_r),
                self.dynamic_arousal_songs,
                self.dynamic_arousal_rated,
                f(self.dynamic_valence_r),
                self.dynamic_valence_songs,
                self.dynamic_valence_rated
            );
        }
        s
    }
}

/// Song-level scores against the labels made by people only (a CSV's teacher-made labels
/// are left out): the ROC AUC of P(arousal+) and P(valence+) (None without both classes),
/// and the quadrant accuracy over the songs whose two labels are both people's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeopleScores {
    pub arousal_auc: Option<f64>,
    pub arousal_songs: usize,
    pub valence_auc: Option<f64>,
    pub valence_songs: usize,
    pub quadrant_accuracy: Option<f64>,
    pub quadrant_songs: usize,
}

impl PeopleScores {
    /// Per-song arousal and valence scores (higher = positive) and quadrant answers.
    pub fn of(songs: &[&Song], arousal: &[f64], valence: &[f64], quadrant: &[usize]) -> Self {
        let auc = |scores: &[f64], label: fn(&Song) -> Option<bool>| {
            let (s, l): (Vec<f64>, Vec<bool>) = songs
                .iter()
                .zip(scores)
                .filter_map(|(song, x)| label(song).map(|l| (*x, l)))
                .unzip();
            (crate::metrics::roc_auc(&s, &l), s.len())
        };
        let (arousal_auc, arousal_songs) =
            auc(arousal, |s| s.arousal_by_people.then_some(s.arousal));
        let (valence_auc, valence_songs) =
            auc(valence, |s| s.valence_by_people.then_some(s.valence));
        let both: Vec<bool> = songs
            .iter()
            .zip(quadrant)
            .filter(|(s, _)| s.arousal_by_people && s.valence_by_people)
            .map(|(s, q)| s.quadrant.index() == *q)
            .collect();
        Self {
            arousal_auc,
            arousal_songs,
            valence_auc,
            valence_songs,
            quadrant_accuracy: (!both.is_empty())
                .then(|| both.iter().filter(|&&c| c).count() as f64 / both.len() as f64),
            quadrant_songs: both.len(),
        }
    }
}

impl Evaluation {
    /// Every task's scores with its level and task names: patch then song, each quadrant,
    /// arousal, valence.
    pub fn tasks(&self) -> impl Iterator<Item = (&'static str, &'static str, &TaskEval)> {
        [("patch", &self.patch), ("song", &self.song)]
            .into_iter()
            .flat_map(|(level, l)| {
                [
                    ("quadrant", &l.quadrant),
                    ("arousal", &l.arousal),
                    ("valence", &l.valence),
                ]
                .map(|(task, t)| (level, task, t))
            })
    }

    /// The compact figures stored in model files.
    pub fn summary(&self) -> serde_json::Value {
        let level = |l: &LevelEval| {
            serde_json::json!({
                "quadrant": {"f1_weighted": l.quadrant.scores.weighted.f1, "f1_macro": l.quadrant.scores.macro_avg.f1, "accuracy": l.quadrant.scores.accuracy},
                "arousal": {"f1_weighted": l.arousal.scores.weighted.f1, "f1_macro": l.arousal.scores.macro_avg.f1, "accuracy": l.arousal.scores.accuracy},
                "valence": {"f1_weighted": l.valence.scores.weighted.f1, "f1_macro": l.valence.scores.macro_avg.f1, "accuracy": l.valence.scores.accuracy},
            })
        };
        serde_json::json!({
            "songs": self.songs, "patches": self.patches,
            "patch": level(&self.patch), "song": level(&self.song),
            "people": self.people,
            "ratings": self.ratings,
        })
    }

    pub fn markdown(&self) -> String {
        let mut s = format!(
            "Evaluation on the {} split: {} songs, {} patches.\n\n",
            self.split, self.songs, self.patches
        );
        s += "| level | task | P (weighted) | R (weighted) | F (weighted) | P (macro) | R (macro) | F (macro) | accuracy |\n|---|---|---|---|---|---|---|---|---|\n";
        for (level, task, t) in self.tasks() {
            let (w, m) = (&t.scores.weighted, &t.scores.macro_avg);
            s += &format!(
                "| {level} | {task} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                w.precision, w.recall, w.f1, m.precision, m.recall, m.f1, t.scores.accuracy
            );
        }
        let auc = |v: Option<f64>| crate::metrics::fmt3(v, "n/a");
        let p = &self.people;
        s += &format!(
            "\nSongs against the labels made by people: arousal ROC AUC {} (P(arousal+), {} songs), valence ROC AUC {} (P(valence+), {} songs), quadrant accuracy {} ({} songs).\n",
            auc(p.arousal_auc),
            p.arousal_songs,
            auc(p.valence_auc),
            p.valence_songs,
            auc(p.quadrant_accuracy),
            p.quadrant_songs
        );
        if let Some(r) = &self.ratings {
            s += &r.markdown();
        }
        for (level, task, t) in self.tasks() {
            s += &format!(
                "\nConfusion matrix, {task}, {level} level (rows: truth, columns: prediction)\n\n"
            );
            s += &format!("| | {} |\n", t.confusion.labels.join(" | "));
            s += &format!("|---{}|\n", "|---".repeat(t.confusion.labels.len()));
            for (label, row) in t.confusion.labels.iter().zip(&t.confusion.counts) {
                let cells: Vec<String> = row.iter().map(u64::to_string).collect();
                s += &format!("| **{label}** | {} |\n", cells.join(" | "));
            }
        }
        s
    }
}

/// Scores a classifier on songs: every patch, and every song by its mean probabilities.
/// Arousal and valence are each scored from their own labels (the original swapped them).
pub fn evaluate_songs(
    model: &Classifier,
    music: &MusicSet,
    idx: &[usize],
    split: &str,
    device: &Device,
) -> Result<Evaluation> {
    let new_level = || LevelEvalBuilder {
        q: Confusion::new(&Quadrant::NAMES),
        a: Confusion::new(&Quadrant::SIGN_NAMES),
        v: Confusion::new(&Quadrant::SIGN_NAMES),
    };
    let (mut patch, mut song) = (new_level(), new_level());
    let recipe = mer::FeatureRecipe::default();
    let mut n_patches = 0;
    let (mut p_arousal, mut p_valence, mut answers) = (Vec::new(), Vec::new(), Vec::new());
    let mut predictions = Vec::with_capacity(idx.len());
    let pb = data::progress_bar(idx.len() as u64, &format!("evaluate {split}"));
    for &i in idx {
        let s = &music.songs[i];
        let probs = pollster::block_on(mer::inference::predict_patches(
            model,
            &music.patches[i],
            device,
            mer::inference::DEFAULT_BATCH,
            |_, _| {},
        ))?;
        for p in &probs {
            patch.add(
                s,
                mer::predict::argmax(&p.quadrant),
                mer::predict::argmax(&p.arousal),
                mer::predict::argmax(&p.valence),
            );
        }
        n_patches += probs.len();
        let sp = SongPrediction::from_patches(&recipe, &probs).context("a song without patches")?;
        song.add(
            s,
            sp.quadrant.index(),
            usize::from(sp.arousal > 0.5),
            usize::from(sp.valence > 0.5),
        );
        p_arousal.push(f64::from(sp.arousal));
        p_valence.push(f64::from(sp.valence));
        answers.push(sp.quadrant.index());
        predictions.push(sp);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let songs: Vec<&Song> = idx.iter().map(|&i| &music.songs[i]).collect();
    Ok(Evaluation {
        split: split.into(),
        songs: idx.len(),
        patches: n_patches,
        patch: patch.finish(),
        song: song.finish(),
        people: PeopleScores::of(&songs, &p_arousal, &p_valence, &answers),
        ratings: RatingScores::of(&songs, &predictions),
    })
}

struct LevelEvalBuilder {
    q: Confusion,
    a: Confusion,
    v: Confusion,
}

impl LevelEvalBuilder {
    fn add(&mut self, s: &Song, q: usize, a: usize, v: usize) {
        self.q.add(s.quadrant.index(), q);
        self.a.add(usize::from(s.arousal), a);
        self.v.add(usize::from(s.valence), v);
    }

    fn finish(self) -> LevelEval {
        let t = |c: Confusion| TaskEval {
            scores: c.scores(),
            confusion: c,
        };
        LevelEval {
            quadrant: t(self.q),
            arousal: t(self.a),
            valence: t(self.v),
        }
    }
}
