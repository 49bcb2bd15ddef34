//! Stage `music-real`: Wesnoth's recorded soundtrack cut into 30-s clips and labelled from
//! the track titles that state a mood; `review.csv` lists every label with its source and
//! whether it is defensible, `annotations.csv` the defensible ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rayon::prelude::*;
use serde_json::json;

use super::audio::{files_with, read_mono_at, write_wav};
use super::cues::quadrant_signs;
use super::packages::Deb;
use super::stages::Produced;
use super::{ANNOTATION_COLUMNS, ANNOTATIONS, CLIP_SECONDS, Ctx, MUSIC_RATE};
use crate::io;

pub(super) const STAGE: &str = "music-real";
pub(super) const DIR: &str = "music/real";
/// The package of the recordings.
pub(super) const PACKAGE: &str = "wesnoth-1.16-music";
/// Jingles shorter than a clip are kept whole if at least this long.
const MIN_JINGLE_SECONDS: usize = 5;

/// Wesnoth's tracks whose title states a mood: (file stem, quadrant 1-4, the cue in the
/// title, defensible). Defensible: the title names an emotion or a situation with an
/// unambiguous conventional scoring (battle, defeat, victory, love theme). The others are
/// guesses kept for review only.
// A table, one track a line: kept as written.
#[rustfmt::skip]
pub(super) const WESNOTH_LABELS: &[(&str, usize, &str, bool)] = &[
    ("victory", 1, "title: 'victory'", true),
    ("victory2", 1, "title: 'victory'", true),
    ("battle", 2, "title: 'battle'", true),
    ("battle-epic", 2, "title: 'battle'", true),
    ("frantic", 2, "title: 'frantic'", true),
    ("frantic-old", 2, "title: 'frantic'", true),
    ("vengeful", 2, "title: 'vengeful'", true),
    ("suspense", 2, "title: 'suspense' (tense)", true),
    ("sad", 3, "title: 'sad'", true),
    ("defeat", 3, "title: 'defeat'", true),
    ("defeat2", 3, "title: 'defeat'", true),
    ("love_theme", 4, "title: 'love theme'", true),
    // Guesses from less direct titles: not defensible.
    ("heroes_rite", 1, "title: 'heroes' (guess: triumphant)", false),
    ("traveling_minstrels", 1, "title: 'minstrels' (guess: cheerful)", false),
    ("breaking_the_chains", 1, "title: 'breaking the chains' (guess: triumphant)", false),
    ("siege_of_laurelmor", 2, "title: 'siege' (guess: battle)", false),
    ("weight_of_revenge", 2, "title: 'revenge' (guess: anger)", false),
    ("the_dangerous_symphony", 2, "title: 'dangerous' (guess: tense)", false),
    ("casualties_of_war", 3, "title: 'casualties' (guess: grief)", false),
    ("the_king_is_dead", 3, "title: 'the king is dead' (guess: grief)", false),
    ("the_city_falls", 3, "title: 'the city falls' (guess: loss)", false),
    ("into_the_shadows", 3, "title: 'shadows' (guess: dark)", false),
    ("silvan_sanctuary", 4, "title: 'sanctuary' (guess: peaceful)", false),
    ("nunc_dimittis", 4, "title: 'nunc dimittis' (guess: peaceful)", false),
    ("journeys_end", 4, "title: 'journey's end' (guess: calm)", false),
    ("silence", 4, "title: 'silence' (guess: calm)", false),
];

/// A clip of a labelled track.
struct RealClip {
    /// The file, relative to the stage's folder.
    rel: String,
    /// Quadrant 1-4.
    quadrant: usize,
    /// The cue in the title.
    source: &'static str,
    defensible: bool,
    /// The track's file stem.
    track: &'static str,
    start: f64,
    seconds: f64,
}

pub(super) fn build(ctx: &Ctx) -> Result<Produced> {
    let deb = &ctx.debs[PACKAGE];
    let tracks = files_with(&deb.root, &["ogg"])?;
    let dir = ctx.out.join(DIR);
    let by_stem: BTreeMap<String, PathBuf> = tracks
        .iter()
        .map(|p| {
            (
                p.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                p.clone(),
            )
        })
        .collect();
    let chosen: Vec<&(&str, usize, &str, bool)> = WESNOTH_LABELS
        .iter()
        .filter(|l| !ctx.plan.small || l.3)
        .collect();
    let results: Vec<Result<Vec<RealClip>>> = chosen
        .par_iter()
        .map(|label| match by_stem.get(label.0) {
            Some(path) => cut(ctx, &dir, label, path),
            None => Ok(Vec::new()),
        })
        .collect();
    let mut rows = Vec::new();
    for r in results {
        rows.extend(r?);
    }
    let (mut files, counts) = write_csvs(&dir, deb, &rows)?;
    files.splice(0..0, rows.iter().map(|r| dir.join(&r.rel)));
    let unused: Vec<String> = by_stem
        .keys()
        .filter(|k| !WESNOTH_LABELS.iter().any(|l| l.0 == k.as_str()))
        .cloned()
        .collect();
    Ok((
        files,
        json!({"defensible_per_quadrant": counts[0], "guess_per_quadrant": counts[1],
               "tracks": tracks.len(), "unlabelled_tracks": unused,
               "minutes": rows.iter().map(|r| r.seconds).sum::<f64>() / 60.0,
               "defensible_minutes": rows.iter().filter(|r| r.defensible).map(|r| r.seconds).sum::<f64>() / 60.0}),
    ))
}

/// A track's clips: at most `real_clips_per_track`, spread evenly over it; a jingle
/// (victory, defeat) shorter than a clip is one clip of its own length.
fn cut(
    ctx: &Ctx,
    dir: &Path,
    &(stem, q, source, defensible): &(&'static str, usize, &'static str, bool),
    path: &Path,
) -> Result<Vec<RealClip>> {
    let s = read_mono_at(path, MUSIC_RATE)?;
    let len = (CLIP_SECONDS * f64::from(MUSIC_RATE)) as usize;
    let clip = |rel: String, start: f64, seconds: f64| RealClip {
        rel,
        quadrant: q,
        source,
        defensible,
        track: stem,
        start,
        seconds,
    };
    let mut out = Vec::new();
    let n = s.len() / len;
    if n == 0 {
        if s.len() >= MIN_JINGLE_SECONDS * MUSIC_RATE as usize {
            let rel = format!("audio/{stem}-00.wav");
            write_wav(&dir.join(&rel), &s, MUSIC_RATE)?;
            let secs = s.len() as f64 / f64::from(MUSIC_RATE);
            out.push(clip(rel, 0.0, secs));
        }
        return Ok(out);
    }
    let k = n.min(ctx.plan.real_clips_per_track);
    for j in 0..k {
        let i = j * n / k;
        let rel = format!("audio/{stem}-{i:02}.wav");
        write_wav(&dir.join(&rel), &s[i * len..(i + 1) * len], MUSIC_RATE)?;
        out.push(clip(rel, i as f64 * CLIP_SECONDS, CLIP_SECONDS));
    }
    Ok(out)
}

/// `review.csv` (every clip) and `annotations.csv` (the defensible ones); returns the two
/// files and the clips per quadrant, [defensible, guesses].
fn write_csvs(dir: &Path, deb: &Deb, rows: &[RealClip]) -> Result<(Vec<PathBuf>, [[usize; 4]; 2])> {
    let header: Vec<&str> = ANNOTATION_COLUMNS
        .into_iter()
        .chain([
            "LabelSource",
            "Defensible",
            "Package",
            "Track",
            "StartSeconds",
        ])
        .collect();
    let mut all = csv::Writer::from_writer(Vec::new());
    let mut good = csv::Writer::from_writer(Vec::new());
    all.write_record(&header)?;
    good.write_record(&header)?;
    let mut counts = [[0usize; 4]; 2];
    let pkg = format!("{} {}", deb.name, deb.version);
    for r in rows {
        let (a, v) = quadrant_signs(r.quadrant - 1);
        let rec = [
            r.rel.as_str(),
            &format!("Q{}", r.quadrant),
            a,
            v,
            r.source,
            if r.defensible { "yes" } else { "no" },
            &pkg,
            &format!("{}.ogg", r.track),
            &format!("{:.0}", r.start),
        ];
        all.write_record(rec)?;
        if r.defensible {
            good.write_record(rec)?;
        }
        counts[usize::from(!r.defensible)][r.quadrant - 1] += 1;
    }
    let p_all = dir.join("review.csv");
    let p_good = dir.join(ANNOTATIONS);
    std::fs::create_dir_all(dir)?;
    io::write_atomic(&p_all, &all.into_inner()?)?;
    io::write_atomic(&p_good, &good.into_inner()?)?;
    Ok((vec![p_all, p_good], counts))
}
