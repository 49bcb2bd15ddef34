//! Stages `music-rendered` and `music-both`: the arranged clips rendered through the
//! General MIDI soundfont (fluid-soundfont-gm, with rustysynth) into the balanced music sets
//! `music/western` and `music/chinese`, and `music/both.csv`, the two sets in one CSV.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};
use serde_json::json;

use super::arrange::{ClipInfo, DRONE_CHANNEL, Ev, arrange};
use super::audio::{files_with, write_wav};
use super::cues::{CUES, quadrant_signs};
use super::melodies::{self, Piece};
use super::stages::Produced;
use super::{ANNOTATION_COLUMNS, ANNOTATIONS, CLIP_SECONDS, Ctx, MUSIC_RATE};
use crate::io;

pub(super) const STAGE: &str = "music-rendered";
pub(super) const BOTH_STAGE: &str = "music-both";
/// The rendered sets: their folder under `music/`, and whether they are Chinese.
pub(super) const SETS: [(&str, bool); 2] = [("western", false), ("chinese", true)];
/// The CSV of both sets, in `music/`.
pub(super) const BOTH_CSV: &str = "both.csv";

pub(super) fn build(ctx: &Ctx) -> Result<Produced> {
    let m = melodies::load(ctx)?;
    let sf = soundfont(ctx)?;
    let mut files = Vec::new();
    let mut stats = serde_json::Map::new();
    for ((set, chinese), pieces) in SETS.into_iter().zip([&m.western, &m.chinese]) {
        let clips = render_set(ctx, &sf, set, pieces, chinese)?;
        files.extend(write_set(ctx, set, &clips)?);
        let melodies: BTreeSet<&str> = clips.iter().map(|c| c.melody.as_str()).collect();
        let mut collections: BTreeMap<String, usize> = BTreeMap::new();
        for c in &clips {
            *collections.entry(c.collection.clone()).or_default() += 1;
        }
        stats.insert(
            set.into(),
            json!({"clips": clips.len(), "per_quadrant": ctx.plan.clips_per_quadrant,
                   "melodies": melodies.len(), "minutes": clips.len() as f64 * CLIP_SECONDS / 60.0,
                   "collections": collections}),
        );
    }
    Ok((files, serde_json::Value::Object(stats)))
}

fn soundfont(ctx: &Ctx) -> Result<Arc<SoundFont>> {
    let sf_path = files_with(&ctx.debs["fluid-soundfont-gm"].root, &["sf2"])?
        .into_iter()
        .next()
        .context("fluid-soundfont-gm holds no .sf2")?;
    let t = Instant::now();
    let sf = Arc::new(
        SoundFont::new(&mut std::io::BufReader::new(std::fs::File::open(&sf_path)?))
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", sf_path.display()))?,
    );
    eprintln!("  soundfont loaded in {:.1} s", t.elapsed().as_secs_f64());
    Ok(sf)
}

/// The set's clips, the quadrants in turn, each from the next melody (shuffled), written to
/// `music/SET/audio/QN/SET-K.wav`.
fn render_set(
    ctx: &Ctx,
    sf: &Arc<SoundFont>,
    set: &str,
    pieces: &[Piece],
    chinese: bool,
) -> Result<Vec<ClipInfo>> {
    let dir = ctx.music_dir().join(set);
    let n = ctx.plan.clips_per_quadrant * 4;
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(if chinese { 2 } else { 1 }));
    (0..n)
        .into_par_iter()
        .map(|k| {
            let q = k % 4;
            let piece = &pieces[order[k % order.len()]];
            let mut rng = StdRng::seed_from_u64((if chinese { 1u64 << 40 } else { 0 }) | k as u64);
            let (evs, mut info) = arrange(piece, q, chinese, &mut rng);
            let accomp = CUES[q].instruments(chinese).1.0;
            let audio = render(sf, &evs, info.program, accomp, info.reverb)?;
            let rel = format!("audio/Q{}/{set}-{k:04}.wav", q + 1);
            write_wav(&dir.join(&rel), &audio, MUSIC_RATE)?;
            info.file = rel;
            Ok(info)
        })
        .collect()
}

/// The set's `annotations.csv` and `clips.csv` (what each clip was made of); returns every
/// file of the set.
fn write_set(ctx: &Ctx, set: &str, clips: &[ClipInfo]) -> Result<Vec<PathBuf>> {
    let dir = ctx.music_dir().join(set);
    let mut files = Vec::new();
    let mut ann = csv::Writer::from_writer(Vec::new());
    ann.write_record(ANNOTATION_COLUMNS)?;
    let mut detail = csv::Writer::from_writer(Vec::new());
    for c in clips {
        let (a, v) = quadrant_signs(c.quadrant - 1);
        ann.write_record([c.file.as_str(), &format!("Q{}", c.quadrant), a, v])?;
        detail.serialize(c)?;
        files.push(dir.join(&c.file));
    }
    let ann_path = dir.join(ANNOTATIONS);
    io::write_atomic(&ann_path, &ann.into_inner()?)?;
    let det_path = dir.join("clips.csv");
    io::write_atomic(&det_path, &detail.into_inner()?)?;
    files.push(ann_path);
    files.push(det_path);
    Ok(files)
}

/// Renders note events through the soundfont; mono, `MUSIC_RATE`.
fn render(
    sf: &Arc<SoundFont>,
    evs: &[Ev],
    program: i32,
    accomp_program: i32,
    reverb: i32,
) -> Result<Vec<f32>> {
    let settings = SynthesizerSettings::new(MUSIC_RATE as i32);
    let mut syn =
        Synthesizer::new(sf, &settings).map_err(|e| anyhow::anyhow!("synthesizer: {e:?}"))?;
    for ch in 0..16 {
        if ch == 9 {
            continue;
        }
        let prog = if ch == DRONE_CHANNEL {
            accomp_program
        } else {
            program
        };
        syn.process_midi_message(ch, 0xC0, prog, 0);
        syn.process_midi_message(ch, 0xB0, 7, 100); // volume
        syn.process_midi_message(ch, 0xB0, 91, reverb); // reverb send
        syn.process_midi_message(ch, 0xB0, 93, 0); // chorus
    }
    let total = (CLIP_SECONDS * f64::from(MUSIC_RATE)) as usize;
    let mut left = vec![0.0f32; total];
    let mut right = vec![0.0f32; total];
    let mut pos = 0usize;
    for e in evs {
        let at = ((e.t * f64::from(MUSIC_RATE)) as usize).min(total);
        if at > pos {
            syn.render(&mut left[pos..at], &mut right[pos..at]);
            pos = at;
        }
        if e.vel > 0 {
            syn.note_on(e.ch, e.key, e.vel);
        } else {
            syn.note_off(e.ch, e.key);
        }
    }
    if pos < total {
        syn.render(&mut left[pos..], &mut right[pos..]);
    }
    let mut mono: Vec<f32> = left
        .iter()
        .zip(&right)
        .map(|(l, r)| 0.5 * (l + r))
        .collect();
    // A fixed gain keeps the loudness cue; only clipping is prevented.
    let peak = mono.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    let gain = if peak * 1.5 > 0.98 { 0.98 / peak } else { 1.5 };
    let fade = (MUSIC_RATE as usize) / 2;
    for (i, x) in mono.iter_mut().enumerate() {
        *x *= gain;
        if i + fade > total {
            *x *= (total - i) as f32 / fade as f32;
        }
    }
    Ok(mono)
}

/// music/both.csv: the western and chinese sets in one CSV (paths relative to music/), for
/// models trained on both sets, as the shipped ones are.
pub(super) fn build_both(ctx: &Ctx) -> Result<Produced> {
    let music = ctx.music_dir();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(ANNOTATION_COLUMNS)?;
    let mut rows = 0usize;
    for (set, _) in SETS {
        let path = music.join(set).join(ANNOTATIONS);
        let mut r = csv::Reader::from_path(&path).with_context(|| format!("{}", path.display()))?;
        for rec in r.records() {
            let rec = rec.with_context(|| format!("{}", path.display()))?;
            let song = format!("{set}/{}", rec.get(0).unwrap_or_default());
            let rest: Vec<&str> = rec.iter().skip(1).collect();
            out.write_record(std::iter::once(song.as_str()).chain(rest))?;
            rows += 1;
        }
    }
    let path = music.join(BOTH_CSV);
    io::write_atomic(&path, &out.into_inner()?)?;
    Ok((vec![path], json!({ "clips": rows })))
}
