//! Song-level splits: the seeded stratified train/validation/test split, the stratified
//! k folds, and the split as written into a run folder (song names per part).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use mer::Quadrant;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::Song;

/// Song-level splits: indices into the song list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Splits {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

impl Splits {
    fn sorted(mut self) -> Self {
        self.train.sort_unstable();
        self.val.sort_unstable();
        self.test.sort_unstable();
        self
    }

    /// Every index of the three parts, sorted.
    #[cfg(test)]
    fn all(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self
            .train
            .iter()
            .chain(&self.val)
            .chain(&self.test)
            .copied()
            .collect();
        all.sort_unstable();
        all
    }
}

/// The songs of each quadrant (by class index), in order.
fn by_quadrant(labels: &[Quadrant]) -> BTreeMap<usize, Vec<usize>> {
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, q) in labels.iter().enumerate() {
        by_class.entry(q.index()).or_default().push(i);
    }
    by_class
}

/// Stratified by quadrant, by song: `test_frac` of each quadrant to test, then `val_frac`
/// of the rest to validation (the paper: 30 %, then 15 %). Seeded.
pub fn stratified_split(labels: &[Quadrant], test_frac: f64, val_frac: f64, seed: u64) -> Splits {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = Splits::default();
    for (_, mut idx) in by_quadrant(labels) {
        idx.shuffle(&mut rng);
        let n = idx.len();
        // Each split gets at least one song of a class that has three or more.
        let n_test = ((n as f64 * test_frac).round() as usize).clamp(usize::from(n >= 3), n);
        let rest = n - n_test;
        let n_val = ((rest as f64 * val_frac).round() as usize).clamp(usize::from(rest >= 2), rest);
        s.test.extend_from_slice(&idx[..n_test]);
        s.val.extend_from_slice(&idx[n_test..n_test + n_val]);
        s.train.extend_from_slice(&idx[n_test + n_val..]);
    }
    s.sorted()
}

/// Stratified k-fold cross-validation by song: each quadrant's songs, shuffled, are dealt
/// in turn to `k` folds (so each fold holds 1/k of every quadrant, within one song); fold
/// i is the test part of split i, and `val_frac` of each quadrant of the rest is its
/// validation part. Seeded.
pub fn stratified_folds(labels: &[Quadrant], k: usize, val_frac: f64, seed: u64) -> Vec<Splits> {
    let mut by_class = by_quadrant(labels);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fold_of = vec![0usize; labels.len()];
    // The deal continues across classes, so small classes do not all start at fold 0.
    let mut next = 0usize;
    for idx in by_class.values_mut() {
        idx.shuffle(&mut rng);
        for &i in idx.iter() {
            fold_of[i] = next % k;
            next += 1;
        }
    }
    (0..k)
        .map(|f| {
            let mut s = Splits::default();
            for idx in by_class.values() {
                let rest: Vec<usize> = idx.iter().copied().filter(|&i| fold_of[i] != f).collect();
                s.test
                    .extend(idx.iter().copied().filter(|&i| fold_of[i] == f));
                let n_val = ((rest.len() as f64 * val_frac).round() as usize)
                    .clamp(usize::from(rest.len() >= 2), rest.len());
                // `rest` is in the class's shuffled order: its first songs validate.
                s.val.extend_from_slice(&rest[..n_val]);
                s.train.extend_from_slice(&rest[n_val..]);
            }
            s.sorted()
        })
        .collect()
}

/// The split as written into a run folder: song names per part, so later steps (and people)
/// can reuse and read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitFile {
    pub seed: u64,
    pub csv: PathBuf,
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub test: Vec<String>,
}

impl SplitFile {
    pub fn new(songs: &[Song], s: &Splits, seed: u64, csv: &Path) -> Self {
        let names = |idx: &[usize]| idx.iter().map(|&i| songs[i].name.clone()).collect();
        Self {
            seed,
            csv: csv.to_path_buf(),
            train: names(&s.train),
            val: names(&s.val),
            test: names(&s.test),
        }
    }

    /// Indices of the songs in one part of the split.
    pub fn part(&self, songs: &[Song], part: &str) -> Result<Vec<usize>> {
        let names: &[String] = match part {
            "train" => &self.train,
            "val" => &self.val,
            "test" => &self.test,
            "all" => return Ok((0..songs.len()).collect()),
            other => bail!("unknown split {other:?} (train, val, test or all)"),
        };
        let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        Ok(songs
            .iter()
            .enumerate()
            .filter(|(_, s)| wanted.contains(s.name.as_str()))
            .map(|(i, _)| i)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_by_song_stratified_and_seeded() {
        let labels: Vec<Quadrant> = (0..100).map(|i| Quadrant::ALL[i % 4]).collect();
        let s = stratified_split(&labels, 0.3, 0.15, 7);
        assert_eq!(s, stratified_split(&labels, 0.3, 0.15, 7));
        assert_ne!(s, stratified_split(&labels, 0.3, 0.15, 8));
        assert_eq!(
            s.all(),
            (0..100).collect::<Vec<_>>(),
            "every song exactly once"
        );
        for q in Quadrant::ALL {
            let count = |idx: &[usize]| idx.iter().filter(|&&i| labels[i] == q).count();
            assert_eq!(count(&s.test), 8, "30 % of 25, rounded");
            assert_eq!(count(&s.val), 3, "15 % of 17, rounded");
            assert_eq!(count(&s.train), 14);
        }
    }

    #[test]
    fn folds_cover_every_song_once_stratified_and_seeded() {
        let labels: Vec<Quadrant> = (0..103).map(|i| Quadrant::ALL[(i * 7) % 4]).collect();
        let folds = stratified_folds(&labels, 10, 0.15, 3);
        assert_eq!(folds, stratified_folds(&labels, 10, 0.15, 3));
        assert_ne!(folds, stratified_folds(&labels, 10, 0.15, 4));
        assert_eq!(folds.len(), 10);
        let mut tested: Vec<usize> = folds.iter().flat_map(|f| f.test.clone()).collect();
        tested.sort_unstable();
        assert_eq!(
            tested,
            (0..103).collect::<Vec<_>>(),
            "each song tested once"
        );
        for f in &folds {
            assert_eq!(
                f.all(),
                (0..103).collect::<Vec<_>>(),
                "each fold partitions the songs"
            );
            for q in Quadrant::ALL {
                let n = labels.iter().filter(|&&l| l == q).count();
                let in_test = f.test.iter().filter(|&&i| labels[i] == q).count();
                assert!(
                    in_test.abs_diff(n / 10) <= 1,
                    "{q}: {in_test} of {n} in one fold"
                );
                assert!(f.val.iter().any(|&i| labels[i] == q), "{q} validated");
            }
        }
    }
}
