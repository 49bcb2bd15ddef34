//! Stage `speech-man`: gcin-voice's recordings of single Mandarin syllables (44.1 kHz,
//! speakers "3" and "5") concatenated along real Chinese sentences in zhuyin, then
//! espeak-ng's Mandarin over the following sentences in tone-numbered pinyin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::Ctx;
use super::audio::{read_mono, write_speech};
use super::speech::{Job, SpeechStats, espeak, synthesize_until, tts_to};
use super::stages::Produced;
use super::text::{ChineseSentence, load_chinese};

/// The stage's output folder, relative to the output folder.
pub(super) const DIR: &str = "speech/man";
pub(super) const STAGE: &str = "speech-man";
/// The rate the syllables are joined at (gcin-voice's own).
const GCIN_RATE: u32 = 44_100;

pub(super) fn build(ctx: &Ctx) -> Result<Produced> {
    let plan = ctx.plan;
    let root = ctx.out.join(DIR);
    let sentences = Arc::new(load_chinese(ctx)?);
    if sentences.is_empty() {
        bail!("no Chinese sentences");
    }
    let mut stats = SpeechStats::default();
    let mut files = Vec::new();

    let gcin = ctx.debs["gcin-voice"].root.join("usr/share/gcin-voice/ogg");
    if !gcin.is_dir() {
        bail!("{}: gcin-voice's recordings not found", gcin.display());
    }
    let syllables = Arc::new(Syllables::new(gcin));
    let dir = root.join("gcin-voice");
    let make = |i: usize| gcin_job(&dir, i, &sentences, &syllables);
    eprintln!("  gcin-voice: {:.1} min", plan.gcin_seconds / 60.0);
    let kept = synthesize_until(plan.gcin_seconds, 1_000_000, &make)?;
    let used_sentences = kept.len() * 2;
    for (p, s) in kept {
        stats.add("gcin-voice", s);
        files.push(p);
    }

    // espeak-ng Mandarin over the following sentences, tone-numbered pinyin.
    let remaining = (plan.speech_seconds - stats.total()).max(0.0);
    let dir = root.join("espeak-ng-cmn");
    let make = |i: usize| espeak_job(&dir, i, &sentences, used_sentences);
    eprintln!("  espeak-ng cmn-latn-pinyin: {:.1} min", remaining / 60.0);
    for (p, s) in synthesize_until(remaining, 1_000_000, &make)? {
        stats.add("espeak-ng-cmn-latn-pinyin", s);
        files.push(p);
    }
    let mut v = serde_json::to_value(&stats)?;
    v["gcin_missing_syllables"] = json!(syllables.missing.load(Ordering::Relaxed));
    v["text_sample"] = json!(sentences.first().map(|s| s.text.clone()));
    Ok((files, v))
}

/// A syllable's samples and their rate.
type Syllable = Arc<(Vec<f32>, u32)>;

/// gcin-voice's syllables, decoded and trimmed once, by (folder, speaker); `None` where
/// missing (and counted).
struct Syllables {
    dir: PathBuf,
    cache: Mutex<BTreeMap<(String, String), Option<Syllable>>>,
    missing: AtomicUsize,
}

impl Syllables {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            cache: Mutex::default(),
            missing: AtomicUsize::new(0),
        }
    }

    /// The syllable `name` by `speaker`, else by the other speaker.
    fn get(&self, name: &str, speaker: &str) -> Option<Syllable> {
        let key = (name.to_string(), speaker.to_string());
        if let Some(v) = self.cache.lock().unwrap().get(&key) {
            return v.clone();
        }
        let other = if speaker == "3" { "5" } else { "3" };
        let v = [speaker, other].iter().find_map(|sp| {
            let p = self.dir.join(name).join(format!("{sp}.ogg"));
            let (s, r) = read_mono(&p).ok()?;
            Some(Arc::new((trim_silence(&s, r).to_vec(), r)))
        });
        if v.is_none() {
            self.missing.fetch_add(1, Ordering::Relaxed);
        }
        self.cache.lock().unwrap().insert(key, v.clone());
        v
    }
}

/// Utterance `i`: one or two sentences from syllables of one speaker, with random gaps
/// between syllables, pauses at commas and a slight speed change.
fn gcin_job(
    dir: &Path,
    i: usize,
    sentences: &Arc<Vec<ChineseSentence>>,
    syllables: &Arc<Syllables>,
) -> (PathBuf, Job) {
    let out = dir.join(format!("gcin-{i:05}.wav"));
    let (sentences, syllables) = (sentences.clone(), syllables.clone());
    let o = out.clone();
    let job: Job = Box::new(move || {
        let n = sentences.len();
        let mut rng = StdRng::seed_from_u64(0x6c_696e ^ i as u64);
        let speaker = if rng.random_bool(0.5) { "3" } else { "5" };
        // Speaking rate: gaps between syllables and a slight speed change.
        let gap: f64 = rng.random_range(0.01..0.07);
        let pause: f64 = rng.random_range(0.18..0.35);
        let speed: f64 = rng.random_range(0.93..1.08);
        let rate = GCIN_RATE;
        let mut buf: Vec<f32> = vec![0.0; (rate as f64 * 0.2) as usize];
        for j in 0..1 + i % 2 {
            for phrase in &sentences[(i * 2 + j) % n].zhuyin {
                for zy in phrase {
                    if let Some(a) = syllables.get(&gcin_name(zy), speaker) {
                        let mut x = if a.1 == rate {
                            a.0.clone()
                        } else {
                            mer::audio::resample(&a.0, a.1, rate)?
                        };
                        fade_edges(&mut x, rate);
                        buf.extend_from_slice(&x);
                        let g = gap * rng.random_range(0.5..1.5);
                        buf.extend(std::iter::repeat_n(0.0, (g * f64::from(rate)) as usize));
                    }
                }
                buf.extend(std::iter::repeat_n(0.0, (pause * f64::from(rate)) as usize));
            }
        }
        let stretched = mer::audio::resample(&buf, (f64::from(rate) * speed) as u32, rate)?;
        if stretched.len() < rate as usize {
            bail!("gcin utterance {i}: no syllables found");
        }
        write_speech(&o, &stretched, rate)
    });
    (out, job)
}

/// Utterance `i` of espeak-ng: one to three sentences after the `used` ones, in pinyin.
fn espeak_job(dir: &Path, i: usize, sentences: &[ChineseSentence], used: usize) -> (PathBuf, Job) {
    let out = dir.join(format!("espeak-cmn-{i:05}.wav"));
    let mut rng = StdRng::seed_from_u64(0x636d_6e00 ^ i as u64);
    let parts = 1 + i % 3;
    let text: String = (0..parts)
        .map(|j| {
            let s = &sentences[(used + i * 3 + j) % sentences.len()];
            s.pinyin
                .iter()
                .map(|p| p.join(" "))
                .collect::<Vec<_>>()
                .join(" , ")
                + " ."
        })
        .collect::<Vec<_>>()
        .join(" ");
    let variants = ["", "+m1", "+m3", "+f1", "+f2", "+f4"];
    let v = format!(
        "cmn-latn-pinyin{}",
        variants[rng.random_range(0..variants.len())]
    );
    let rate: u32 = rng.random_range(110..190);
    let pitch: u32 = rng.random_range(30..70);
    let o = out.clone();
    let job: Job = Box::new(move || tts_to(&o, |tmp| espeak(&v, rate, pitch, &text, tmp)));
    (out, job)
}

/// gcin-voice's folder name of a zhuyin syllable: tone marks become gcin's digits
/// (first tone: none; neutral `˙`: 1; `ˊ` 2, `ˇ` 3, `ˋ` 4).
fn gcin_name(zhuyin: &str) -> String {
    let mut base = String::new();
    let mut tone = "";
    for c in zhuyin.chars() {
        match c {
            'ˊ' => tone = "2",
            'ˇ' => tone = "3",
            'ˋ' => tone = "4",
            '˙' => tone = "1",
            'ˉ' => {}
            c => base.push(c),
        }
    }
    format!("{base}{tone}")
}

/// Trims leading and trailing near-silence of a syllable recording.
fn trim_silence(s: &[f32], rate: u32) -> &[f32] {
    let peak = s.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    let thr = peak * 0.03;
    let win = (rate / 200) as usize; // 5 ms
    let loud = |i: usize| s[i..(i + win).min(s.len())].iter().any(|x| x.abs() > thr);
    let mut a = 0;
    while a + win < s.len() && !loud(a) {
        a += win;
    }
    let mut b = s.len();
    while b > a + win && !loud(b - win) {
        b -= win;
    }
    &s[a..b]
}

/// 8-ms raised-cosine fades at both ends (no clicks where syllables are joined).
fn fade_edges(x: &mut [f32], rate: u32) {
    let n = ((rate as usize) / 125).min(x.len() / 2);
    for i in 0..n {
        let g = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / n as f32).cos();
        x[i] *= g;
        let j = x.len() - 1 - i;
        x[j] *= g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zhuyin_to_gcin_folder() {
        assert_eq!(gcin_name("ㄇㄠ"), "ㄇㄠ");
        assert_eq!(gcin_name("ㄧㄠˋ"), "ㄧㄠ4");
        assert_eq!(gcin_name("ㄉㄜ˙"), "ㄉㄜ1");
        assert_eq!(gcin_name("˙ㄉㄜ"), "ㄉㄜ1");
        assert_eq!(gcin_name("ㄌㄧˇ"), "ㄌㄧ3");
    }
}
