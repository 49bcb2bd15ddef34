//! The stage's statistics for the report: clips per game and quadrant, where the labels
//! came from, and how well the teacher agrees with the games' own labels (overall, and
//! within each game between the usages that state an arousal sign).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::clips::Clip;
use super::rows::Row;
use super::teacher::{agreement, auc, teacher_key};
use super::tracks::Track;
use super::{Game, HELD_OUT_GAMES};

/// Pairs of (the teacher's value, the game's sign).
type Pairs = Vec<(f64, bool)>;

#[derive(Default)]
pub(super) struct Tally {
    /// Per game: clips per quadrant, minutes, tracks.
    per_game: BTreeMap<&'static str, ([usize; 4], f64, BTreeSet<usize>)>,
    /// Per game: the teacher's energy and valence where the game states the sign.
    arousal: BTreeMap<&'static str, Pairs>,
    valence: BTreeMap<&'static str, Pairs>,
    /// [arousal, valence][game, teacher]: clips whose label came from each.
    sources: [[usize; 2]; 2],
    /// Per game, arousal usages and sign: the teacher's energy on those clips.
    by_usage: BTreeMap<(&'static str, String, bool), Vec<f64>>,
}

impl Tally {
    /// Counts a labelled clip `c` of track `t`; `tv`, `te`: the teacher's valence, energy.
    pub fn add(&mut self, t: &Track, c: &Clip, row: &Row, tv: f64, te: f64) {
        if let Some(a) = row.game_arousal {
            self.arousal.entry(t.game).or_default().push((te, a));
            let usage: BTreeSet<&str> = t
                .cues
                .iter()
                .filter(|c| c.arousal.is_some())
                .map(|c| c.usage.as_str())
                .collect();
            let usage: Vec<&str> = usage.into_iter().collect();
            self.by_usage
                .entry((t.game, usage.join("+"), a))
                .or_default()
                .push(te);
        }
        if let Some(v) = row.game_valence {
            self.valence.entry(t.game).or_default().push((tv, v));
        }
        self.sources[0][usize::from(row.game_arousal.is_none())] += 1;
        self.sources[1][usize::from(row.game_valence.is_none())] += 1;
        let e = self.per_game.entry(t.game).or_default();
        e.0[row.quadrant - 1] += 1;
        e.1 += c.seconds / 60.0;
        e.2.insert(c.track);
    }

    /// The teacher's energy AUC between each positive and each negative arousal usage of
    /// a game.
    fn contrasts(&self, game: &str) -> Vec<serde_json::Value> {
        let mut contrasts = Vec::new();
        for ((g, up, sp), ep) in &self.by_usage {
            for ((g2, un, sn), en) in &self.by_usage {
                if *g == game && *g2 == game && *sp && !*sn {
                    let pairs: Pairs = ep
                        .iter()
                        .map(|&e| (e, true))
                        .chain(en.iter().map(|&e| (e, false)))
                        .collect();
                    contrasts.push(json!({"positive": up, "negative": un,
                        "clips": [ep.len(), en.len()], "auc": auc(&pairs)}));
                }
            }
        }
        contrasts
    }

    /// The stage's statistics. `games`: the games built, in order; `silent`: clips
    /// skipped as near-silent; `shipped`: rows of shipped.csv from both.csv and the games.
    pub fn stats(
        &self,
        games: impl Iterator<Item = &'static Game>,
        tracks: &[Track],
        clips: &[Clip],
        silent: usize,
        per_track: usize,
        shipped: (usize, usize),
    ) -> serde_json::Value {
        let mut games_json = serde_json::Map::new();
        let (mut all_a, mut all_v) = (Vec::new(), Vec::new());
        let mut quads = [0usize; 4];
        for g in games {
            let Some((q, min, tr)) = self.per_game.get(g.id) else {
                continue;
            };
            let a = self.arousal.get(g.id).cloned().unwrap_or_default();
            let v = self.valence.get(g.id).cloned().unwrap_or_default();
            all_a.extend(a.iter().copied());
            all_v.extend(v.iter().copied());
            for i in 0..4 {
                quads[i] += q[i];
            }
            games_json.insert(
                g.id.into(),
                json!({"arousal_contrasts": self.contrasts(g.id), "name": g.name, "packages": g.packages, "tracks": tr.len(),
                       "clips": q.iter().sum::<usize>(), "per_quadrant": q, "minutes": min,
                       "split": if HELD_OUT_GAMES.contains(&g.id) { "heldout" } else { "train" },
                       "arousal_agreement": agreement(&a), "valence_agreement": agreement(&v)}),
            );
        }
        let mut pkg_minutes: BTreeMap<String, f64> = BTreeMap::new();
        for c in clips {
            *pkg_minutes
                .entry(tracks[c.track].package.clone())
                .or_default() += c.seconds / 60.0;
        }
        let sources = self.sources;
        json!({
            "games": games_json,
            "clips": clips.len(),
            "per_quadrant": quads,
            "minutes": clips.iter().map(|c| c.seconds).sum::<f64>() / 60.0,
            "silent_clips_skipped": silent,
            "clips_per_track": per_track,
            "arousal_agreement": agreement(&all_a),
            "valence_agreement": agreement(&all_v),
            "arousal_sources": {"game": sources[0][0], "teacher": sources[0][1]},
            "valence_sources": {"game": sources[1][0], "teacher": sources[1][1]},
            "heldout_games": HELD_OUT_GAMES,
            "shipped": {"both": shipped.0, "games_train": shipped.1},
            "package_minutes": pkg_minutes,
            "teacher_key": teacher_key(),
        })
    }
}
