//! Stage `speech-eng`: real English recordings from Debian packages (capped per source in
//! the small build), topped up with text-to-speech over fortune-mod's sentences by
//! festival's HTS voice (slt, female), its diphone voice (kal, male) and espeak-ng en-us.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::Ctx;
use super::audio::{files_with, read_mono, read_raw16, write_speech};
use super::speech::{Job, SpeechStats, espeak, festival, synthesize_until, tts_to};
use super::stages::Produced;
use super::text::load_english;

/// The stage's output folder, relative to the output folder.
pub(super) const DIR: &str = "speech/eng";
pub(super) const STAGE: &str = "speech-eng";

/// The sources of real recordings, as named in the report.
pub(super) const REAL_SOURCES: [&str; 4] = [
    "pocketsphinx-testdata",
    "asterisk-core-sounds-en-wav",
    "codec2-examples",
    "fillets-ng-data",
];

/// The text-to-speech voices and their shares of the time left after the real recordings.
const VOICES: [(&str, f64); 3] = [
    ("festival-slt-hts", 0.40),
    ("festival-kal-diphone", 0.25),
    ("espeak-ng-en-us", 0.35),
];

/// A real recording: its source, its file, and its rate when it is headerless 16-bit.
type Recording = (&'static str, PathBuf, Option<u32>);
/// A recording written as speech: its source, its file, its seconds.
type Written = (&'static str, PathBuf, f64);

pub(super) fn build(ctx: &Ctx) -> Result<Produced> {
    let root = ctx.out.join(DIR);
    let mut stats = SpeechStats::default();
    let mut files = Vec::new();
    let recordings = real_recordings(ctx)?;
    for (src, out, secs) in write_recordings(ctx, &root, &recordings)? {
        stats.add(src, secs);
        files.push(out);
    }
    let text = load_english(ctx)?;
    let remaining = (ctx.plan.speech_seconds - stats.total()).max(0.0);
    let mut offset = 0usize;
    for (k, (voice, share)) in VOICES.iter().enumerate() {
        let budget = remaining * share;
        let dir = root.join("tts").join(voice);
        let (voice, start) = (*voice, offset);
        let make = |i: usize| tts_job(&dir, voice, k, i, &text, start);
        eprintln!("  {voice}: {:.1} min", budget / 60.0);
        let kept = synthesize_until(budget, 1_000_000, &make)?;
        offset += kept.len() * 3;
        for (p, s) in kept {
            stats.add(voice, s);
            files.push(p);
        }
    }
    Ok((files, serde_json::to_value(&stats)?))
}

/// The real recordings of the four packages, in order.
fn real_recordings(ctx: &Ctx) -> Result<Vec<Recording>> {
    let [ps, asterisk, codec2, fillets] = REAL_SOURCES;
    let root = |name: &str| &ctx.debs[name].root;
    let ps_dir = root(ps).join("usr/share/pocketsphinx/test/data");
    let mut real: Vec<Recording> = Vec::new();
    for p in files_with(&ps_dir, &["wav"])? {
        real.push((ps, p, None));
    }
    for p in files_with(&ps_dir, &["raw"])? {
        real.push((ps, p, Some(16_000)));
    }
    let mut ast = files_with(
        &root(asterisk).join("usr/share/asterisk/sounds/en"),
        &["wav"],
    )?;
    if ast.is_empty() {
        ast = files_with(root(asterisk), &["wav"])?;
    }
    for p in ast {
        real.push((asterisk, p, None));
    }
    for p in files_with(&root(codec2).join("usr/share/codec2/wav"), &["wav"])? {
        real.push((codec2, p, None));
    }
    let sound = root(fillets).join("usr/share/games/fillets-ng/sound");
    for p in files_with(&sound, &["ogg"])? {
        if p.parent()
            .and_then(|d| d.file_name())
            .is_some_and(|n| n == "en")
        {
            real.push((fillets, p, None));
        }
    }
    Ok(real)
}

/// Writes the recordings as speech (in parallel; those under 0.5 s skipped), then keeps
/// them in order until each source's cap; returns (source, file, seconds) of those kept.
fn write_recordings(ctx: &Ctx, root: &Path, real: &[Recording]) -> Result<Vec<Written>> {
    let results: Vec<Result<Option<Written>>> = real
        .par_iter()
        .enumerate()
        .map(|(i, (src, path, raw_rate))| {
            let (s, rate) = match raw_rate {
                Some(r) => (read_raw16(path)?, *r),
                None => read_mono(path)?,
            };
            if s.len() < rate as usize / 2 {
                return Ok(None);
            }
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let out = root
                .join("real")
                .join(src)
                .join(format!("{i:05}-{stem}.wav"));
            let secs = write_speech(&out, &s, rate)?;
            Ok(Some((*src, out, secs)))
        })
        .collect();
    let mut per_source: BTreeMap<&str, f64> = BTreeMap::new();
    let mut kept = Vec::new();
    for r in results {
        if let Some((src, out, secs)) = r? {
            let used = per_source.entry(src).or_default();
            if *used >= ctx.plan.real_cap_seconds {
                std::fs::remove_file(&out)?;
                continue;
            }
            *used += secs;
            kept.push((src, out, secs));
        }
    }
    Ok(kept)
}

/// Utterance `i` of voice number `k`: one to three fortunes from `start`, spoken at a
/// random speed (and pitch) drawn from the voice's own range.
fn tts_job(
    dir: &Path,
    voice: &str,
    k: usize,
    i: usize,
    text: &[String],
    start: usize,
) -> (PathBuf, Job) {
    let out = dir.join(format!("{voice}-{i:05}.wav"));
    let mut rng = StdRng::seed_from_u64((k as u64) << 32 | i as u64);
    let n = text.len();
    // One to three fortunes per utterance.
    let parts = 1 + (i % 3);
    let sentence: String = (0..parts)
        .map(|j| text[(start + i * 3 + j) % n].clone())
        .collect::<Vec<_>>()
        .join(" ");
    let o = out.clone();
    let job: Job = match voice {
        "festival-slt-hts" => {
            let speed: f64 = rng.random_range(0.8..1.25);
            let shift: f64 = rng.random_range(-2.0..2.5);
            let params = format!(
                "(set! hts_engine_params (append hts_engine_params (list (list \"-r\" {speed:.3}) (list \"-fm\" {shift:.2}))))"
            );
            Box::new(move || {
                tts_to(&o, |tmp| {
                    festival("voice_cmu_us_slt_arctic_hts", &params, &sentence, tmp, tmp)
                })
            })
        }
        "festival-kal-diphone" => {
            let stretch: f64 = rng.random_range(0.8..1.3);
            let params = format!("(Parameter.set 'Duration_Stretch {stretch:.3})");
            Box::new(move || {
                tts_to(&o, |tmp| {
                    festival("voice_kal_diphone", &params, &sentence, tmp, tmp)
                })
            })
        }
        _ => {
            let variants = ["", "+m1", "+m3", "+m7", "+f1", "+f2", "+f4"];
            let v = format!("en-us{}", variants[rng.random_range(0..variants.len())]);
            let rate: u32 = rng.random_range(125..205);
            let pitch: u32 = rng.random_range(30..70);
            Box::new(move || tts_to(&o, |tmp| espeak(&v, rate, pitch, &sentence, tmp)))
        }
    };
    (out, job)
}
