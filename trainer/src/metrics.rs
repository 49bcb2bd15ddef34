//! Classification scores as scikit-learn computes them: per-class precision, recall and F1
//! from a confusion matrix, averaged with support weights ("weighted", the paper's numbers)
//! and without ("macro"). Undefined ratios (no prediction or no sample of a class) count 0,
//! as sklearn's `zero_division=0`.

use serde::{Deserialize, Serialize};

/// Rows: true class; columns: predicted class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub labels: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    pub fn new(labels: &[&str]) -> Self {
        let n = labels.len();
        Self {
            labels: labels.iter().map(|s| s.to_string()).collect(),
            counts: vec![vec![0; n]; n],
        }
    }

    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn scores(&self) -> Scores {
        let n = self.labels.len();
        let support: Vec<u64> = self.counts.iter().map(|r| r.iter().sum()).collect();
        let predicted: Vec<u64> = (0..n)
            .map(|c| self.counts.iter().map(|r| r[c]).sum())
            .collect();
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassScores> = (0..n)
            .map(|c| {
                let tp = self.counts[c][c];
                let p = ratio(tp, predicted[c]);
                let r = ratio(tp, support[c]);
                let f = if p + r == 0.0 {
                    0.0
                } else {
                    2.0 * p * r / (p + r)
                };
                ClassScores {
                    label: self.labels[c].clone(),
                    precision: p,
                    recall: r,
                    f1: f,
                    support: support[c],
                }
            })
            .collect();
        let total = self.total();
        let weighted = |f: fn(&ClassScores) -> f64| {
            if total == 0 {
                0.0
            } else {
                per_class
                    .iter()
                    .map(|c| f(c) * c.support as f64)
                    .sum::<f64>()
                    / total as f64
            }
        };
        let macro_avg =
            |f: fn(&ClassScores) -> f64| per_class.iter().map(f).sum::<f64>() / n as f64;
        let correct: u64 = (0..n).map(|c| self.counts[c][c]).sum();
        Scores {
            accuracy: ratio(correct, total),
            weighted: Average {
                precision: weighted(|c| c.precision),
                recall: weighted(|c| c.recall),
                f1: weighted(|c| c.f1),
            },
            macro_avg: Average {
                precision: macro_avg(|c| c.precision),
                recall: macro_avg(|c| c.recall),
                f1: macro_avg(|c| c.f1),
            },
            per_class,
            support: total,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Average {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub accuracy: f64,
    /// Support-weighted average (sklearn "weighted"; the paper's "macro-weighted").
    pub weighted: Average,
    /// Unweighted mean over classes (sklearn "macro").
    #[serde(rename = "macro")]
    pub macro_avg: Average,
    pub per_class: Vec<ClassScores>,
    pub support: u64,
}

/// Area under the ROC curve of `scores` for the positive class (`positive[i]`): the
/// probability that a random positive scores above a random negative, ties counting half
/// (scikit-learn's `roc_auc_score`). None without both classes.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    // Mann-Whitney U from mid-ranks.
    let ranks = mid_ranks(scores);
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    Some((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// 1-based ranks, ties given the mean of the ranks they span.
fn mid_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = mid;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson's correlation coefficient (`scipy.stats.pearsonr`). None with fewer than three
/// pairs, or when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 3 {
        return None;
    }
    let mean = |v: &[f64]| v[..n].iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x[..n].iter().zip(&y[..n]) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    let r = sxy / (sxx * syy).sqrt();
    r.is_finite().then(|| r.clamp(-1.0, 1.0))
}

/// Spearman's rank correlation (`scipy.stats.spearmanr`): Pearson's over mid-ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    pearson(&mid_ranks(&x[..n]), &mid_ranks(&y[..n]))
}

/// A score with three decimals, or `missing` where it is undefined (tables of reports).
pub fn fmt3(v: Option<f64>, missing: &str) -> String {
    v.map_or_else(|| missing.to_string(), |v| format!("{v:.3}"))
}

/// Mean and (sample, n - 1) standard deviation; None when empty.
pub fn mean_std(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((m, var.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed example (checked against sklearn.metrics.classification_report):
    /// y_true = [0,0,0,1,1,2], y_pred = [0,0,1,1,2,2].
    #[test]
    fn matches_hand_computed_scores() {
        let mut c = Confusion::new(&["a", "b", "c"]);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 2)] {
            c.add(t, p);
        }
        assert_eq!(c.counts, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        let s = c.scores();
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        // precision: a 2/2, b 1/2, c 1/2; recall: a 2/3, b 1/2, c 1/1
        close(s.per_class[0].precision, 1.0);
        close(s.per_class[1].precision, 0.5);
        close(s.per_class[2].recall, 1.0);
        close(s.per_class[0].f1, 0.8);
        close(s.per_class[2].f1, 2.0 / 3.0);
        close(s.accuracy, 4.0 / 6.0);
        close(s.macro_avg.precision, 2.0 / 3.0);
        close(s.macro_avg.recall, (2.0 / 3.0 + 0.5 + 1.0) / 3.0);
        close(s.macro_avg.f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0);
        close(s.weighted.precision, (3.0 * 1.0 + 2.0 * 0.5 + 0.5) / 6.0);
        close(s.weighted.recall, 4.0 / 6.0);
        close(s.weighted.f1, (3.0 * 0.8 + 2.0 * 0.5 + 2.0 / 3.0) / 6.0);
    }

    #[test]
    fn missing_classes_count_zero() {
        let mut c = Confusion::new(&["neg", "pos"]);
        c.add(1, 1);
        c.add(1, 1);
        let s = c.scores();
        assert_eq!(s.per_class[0].precision, 0.0);
        assert_eq!(s.per_class[0].support, 0);
        assert_eq!(s.weighted.f1, 1.0);
        assert_eq!(s.macro_avg.f1, 0.5);
    }

    #[test]
    fn correlations_match_scipy() {
        // scipy.stats.pearsonr / spearmanr of these (hand-checked: ranks with a tie).
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 1.0, 4.0, 3.0, 5.0];
        assert!((pearson(&x, &y).unwrap() - 0.8).abs() < 1e-12);
        assert!((spearman(&x, &y).unwrap() - 0.8).abs() < 1e-12);
        // A monotone but curved relation: Spearman 1, Pearson below.
        let y2: Vec<f64> = x.iter().map(|v: &f64| v.powi(4)).collect();
        assert!((spearman(&x, &y2).unwrap() - 1.0).abs() < 1e-12);
        assert!(pearson(&x, &y2).unwrap() < 0.97);
        // Ties: ranks [1.5, 1.5, 3] against [1, 2, 3] -> r = sqrt(3)/2.
        let r = spearman(&[7.0, 7.0, 9.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!((r - 3f64.sqrt() / 2.0).abs() < 1e-12);
        assert_eq!(
            pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]),
            None,
            "constant side"
        );
        assert_eq!(pearson(&[1.0, 2.0], &[1.0, 2.0]), None, "two pairs");
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((m - 2.5).abs() < 1e-12 && (s - 1.2909944487358056).abs() < 1e-12);
    }

    #[test]
    fn roc_auc_matches_scikit_learn() {
        // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        // Ties count half: roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == 0.875
        let auc = roc_auc(&[0.5, 0.5, 0.2, 0.9], &[false, true, false, true]).unwrap();
        assert!((auc - 0.875).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.3, 0.9], &[true, true]), None);
    }
}
