//! The game music's clips: the audible part of each track cut into at most N clips of 30 s
//! spread evenly over it (a stinger is one clip of its own length), near-silent clips
//! skipped, each written under a readable name unique within its game.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

use super::tracks::Track;
use crate::corpus::audio::{read_mono_at, write_wav};
use crate::corpus::{CLIP_SECONDS, MUSIC_RATE};

/// Clips quieter than this (RMS, dBFS) are skipped: the teacher scores silence as positive.
pub(super) const SILENCE_DBFS: f64 = -45.0;
/// Tracks shorter than one clip (stingers) give one clip of their own length if at least
/// this long.
const MIN_STINGER_SECONDS: f64 = 5.0;

/// A clip of track number `track`, written to `rel` (relative to the stage's folder).
pub(super) struct Clip {
    pub track: usize,
    pub rel: String,
    pub start: f64,
    pub seconds: f64,
}

/// Unique, readable clip names per game: the track's file stem, `_2`, `_3`... on a clash.
pub(super) fn stems(tracks: &[Track]) -> Vec<String> {
    let mut stems: Vec<String> = Vec::new();
    let mut used = BTreeSet::new();
    for t in tracks {
        let base = file_stem_safe(&t.track);
        let mut s = base.clone();
        let mut k = 2;
        while !used.insert((t.game, s.clone())) {
            s = format!("{base}_{k}");
            k += 1;
        }
        stems.push(s);
    }
    stems
}

fn file_stem_safe(path: &str) -> String {
    let stem = Path::new(path)
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn rms_dbfs(x: &[f32]) -> f64 {
    let e: f64 =
        x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * e.max(1e-20).log10()
}

/// The audible part of a track: from the first to the end of the last 0.5-s window above
/// -60 dBFS RMS (some tracks end in half a minute of digital silence).
fn audible(s: &[f32]) -> (usize, usize) {
    let w = (MUSIC_RATE / 2) as usize;
    let loud: Vec<bool> = s.chunks(w).map(|c| rms_dbfs(c) > -60.0).collect();
    match (loud.iter().position(|&l| l), loud.iter().rposition(|&l| l)) {
        (Some(a), Some(b)) => (a * w, ((b + 1) * w).min(s.len())),
        _ => (0, 0),
    }
}

/// Cuts the audible part of a track into at most `per_track` 30-s clips spread evenly
/// (centred in equal parts of it), or one clip of a stinger's own length; skips near-silent
/// clips.
pub(super) fn cut(
    dir: &Path,
    idx: usize,
    t: &Track,
    stem: &str,
    per_track: usize,
) -> Result<(Vec<Clip>, usize)> {
    let s =
        read_mono_at(&t.file, MUSIC_RATE).with_context(|| format!("{} {}", t.package, t.track))?;
    let (lo, hi) = audible(&s);
    let len = (CLIP_SECONDS * f64::from(MUSIC_RATE)) as usize;
    let n = (hi - lo) / len;
    let mut spans = Vec::new();
    if n == 0 {
        if (hi - lo) as f64 >= MIN_STINGER_SECONDS * f64::from(MUSIC_RATE) {
            spans.push((lo, hi));
        }
    } else {
        let k = n.min(per_track);
        for j in 0..k {
            let i = (2 * j + 1) * n / (2 * k);
            spans.push((lo + i * len, lo + (i + 1) * len));
        }
    }
    let mut out = Vec::new();
    let mut silent = 0;
    for (a, b) in spans {
        let x = &s[a..b];
        if rms_dbfs(x) < SILENCE_DBFS {
            silent += 1;
            continue;
        }
        let start = a as f64 / f64::from(MUSIC_RATE);
        let rel = format!(
            "audio/{}/{stem}-{:03}.wav",
            t.game,
            (start / CLIP_SECONDS).round()
        );
        write_wav(&dir.join(&rel), x, MUSIC_RATE)?;
        out.push(Clip {
            track: idx,
            rel,
            start,
            seconds: x.len() as f64 / f64::from(MUSIC_RATE),
        });
    }
    Ok((out, silent))
}
