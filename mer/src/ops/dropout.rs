//! Dropout's mask: each value kept with probability `1 - prob` and then worth `1 / (1 -
//! prob)`, else zero, as burn's `Dropout` draws it (a Bernoulli tensor, then a scaling),
//! but from a counter-based hash of one seed and the value's index (SplitMix64's finaliser)
//! instead of a ChaCha stream sampled value by value: a few integer operations per value,
//! on every core, and the same mask for the same seed on any number of cores. The seed is
//! drawn from burn's seeded generator, so a seeded run stays repeatable.

use super::build;

/// Values per parallel chunk.
const CHUNK: usize = 1 << 14;

/// SplitMix64's output function: a bijective mix of a 64-bit counter.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The mask of `len` values for `seed`: `1 / (1 - prob)` where a value is kept, else 0.
/// `prob` is in `[0, 1)`.
pub fn mask(len: usize, prob: f64, seed: u64) -> Vec<f32> {
    let keep = 1.0 - prob;
    // A value is kept when the top 32 bits of its hash fall below `threshold`.
    let threshold = (keep * 4_294_967_296.0).round() as u64;
    let scale = (1.0 / keep) as f32;
    build(len, CHUNK, |k, chunk| {
        let start = (k * CHUNK) as u64;
        for (i, v) in chunk.iter_mut().enumerate() {
            let h = mix(seed.wrapping_add((start + i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            *v = if (h >> 32) < threshold { scale } else { 0.0 };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_expected_share_scaled_and_repeats_with_its_seed() {
        for prob in [0.25, 0.5, 0.9] {
            let m = mask(200_000, prob, 42);
            let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / m.len() as f64;
            // 200 000 draws: the share's standard deviation is at most 0.0012.
            assert!(
                (kept - (1.0 - prob)).abs() < 0.006,
                "prob {prob}: kept {kept}"
            );
            let scale = (1.0 / (1.0 - prob)) as f32;
            assert!(m.iter().all(|&v| v == 0.0 || v == scale));
            // The mean is preserved.
            let mean = m.iter().map(|&v| f64::from(v)).sum::<f64>() / m.len() as f64;
            assert!((mean - 1.0).abs() < 0.03, "prob {prob}: mean {mean}");
        }
        assert_eq!(mask(50_000, 0.25, 7), mask(50_000, 0.25, 7));
        let (a, b) = (mask(50_000, 0.25, 7), mask(50_000, 0.25, 8));
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / 50_000.0;
        // Independent masks agree on 0.75² + 0.25² = 62.5 % of the values.
        assert!((same - 0.625).abs() < 0.02, "{same}");
        // No pattern along the index: neighbours are independent too.
        let both = a.windows(2).filter(|w| w[0] > 0.0 && w[1] > 0.0).count() as f64 / 49_999.0;
        assert!((both - 0.5625).abs() < 0.02, "{both}");
        assert!(mask(10, 0.0, 3).iter().all(|&v| v == 1.0));
    }
}
