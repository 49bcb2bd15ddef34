//! Helpers shared by the end-to-end tests: running the `trainer` binary, and the
//! synthetic speech and music they train on.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("trainer runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `trainer features AUDIO --out OUT`, which must succeed.
pub fn write_features(audio: &Path, out: &Path) {
    let o = trainer(&["features", s(audio), "--out", s(out)]);
    assert!(o.status.success(), "{}: {}", audio.display(), stderr(&o));
}

pub fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "trainer failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn write_mono(path: &Path, rate: u32, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for x in samples {
        w.write_sample((x.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// A deterministic pseudo-random sequence.
pub fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
}

/// "Speech": syllables of voiced harmonics with moving formants and pauses. The two
/// languages differ in pitch contour (Mandarin-like tones vs flat) and syllable rate.
pub fn utterance(seconds: f32, tonal: bool, seed: u64) -> Vec<f32> {
    let rate = 16_000.0;
    let mut rng = seed;
    let n = (seconds * rate) as usize;
    let syllable = if tonal { 0.22 } else { 0.16 };
    let mut out = vec![0f32; n];
    let mut phase = 0f32;
    for (i, x) in out.iter_mut().enumerate() {
        let t = i as f32 / rate;
        let k = (t / syllable) as u64;
        let within = (t % syllable) / syllable;
        let mut r = seed ^ k.wrapping_mul(0x9E37);
        let base = 110.0 + 60.0 * (lcg(&mut r) + 1.0);
        let contour = if tonal {
            1.0 + 0.3 * (std::f32::consts::PI * within * (1.0 + (k % 4) as f32)).sin()
        } else {
            1.0
        };
        let f0 = base * contour;
        phase += 2.0 * std::f32::consts::PI * f0 / rate;
        let formant = 500.0 + 1500.0 * (0.5 + 0.5 * lcg(&mut r));
        let env =
            (std::f32::consts::PI * within).sin().powi(2) * if k % 5 == 4 { 0.0 } else { 1.0 };
        let mut v = 0.0;
        for h in 1..12 {
            let fh = f0 * h as f32;
            let gain = 1.0 / (1.0 + ((fh - formant) / 300.0).powi(2));
            v += gain * (phase * h as f32).sin();
        }
        *x = 0.2 * env * v + 0.005 * lcg(&mut rng);
    }
    out
}

/// "Music" with quadrant cues: tempo and loudness (arousal), major or minor and register
/// (valence).
pub fn clip(q: usize, seconds: f32, seed: u64) -> Vec<f32> {
    let rate = 22_050.0;
    let n = (seconds * rate) as usize;
    let (aroused, positive) = (q < 2, q == 0 || q == 3);
    let bpm = if aroused { 160.0 } else { 60.0 };
    let gain = if aroused { 0.8 } else { 0.2 };
    let root = if positive { 440.0 } else { 196.0 };
    let third = if positive { 1.26 } else { 1.189 };
    let mut rng = seed;
    let beat = 60.0 / bpm;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            let k = (t / beat) as usize;
            let within = (t % beat) / beat;
            let step = [1.0, third, 1.498, 2.0][(k + seed as usize) % 4];
            let f = root * step;
            let env = (-within * if aroused { 8.0 } else { 1.5 }).exp();
            let tone = (2.0 * std::f32::consts::PI * f * t).sin()
                + 0.5 * (2.0 * std::f32::consts::PI * 2.0 * f * t).sin();
            gain * env * tone * 0.6 + 0.01 * lcg(&mut rng)
        })
        .collect()
}

/// A 4Q-emotion-style music set under `dir`: `per_quadrant` clips of 3 s per quadrant
/// (`audio/qQ_I.wav`, 22.05 kHz) and `annotations.csv` naming their quadrant, arousal and
/// valence. Returns the CSV's path.
pub fn write_music_set(dir: &Path, per_quadrant: u64) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("audio")).unwrap();
    let mut csv = String::from("Songs,Quads,Arousal,Valence\n");
    for q in 0..4 {
        for i in 0..per_quadrant {
            let name = format!("audio/q{}_{i}.wav", q + 1);
            write_mono(&dir.join(&name), 22_050, &clip(q, 3.0, i));
            let a = if q < 2 { "positive" } else { "negative" };
            let v = if q == 0 || q == 3 {
                "positive"
            } else {
                "negative"
            };
            csv += &format!("./{name},Q{},{a},{v}\n", q + 1);
        }
    }
    let path = dir.join("annotations.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// A failing run: non-zero exit, one error line on stderr naming `name` and saying
/// `problem` (in any case), no panic.
pub fn assert_clean_failure(o: &Output, name: &str, problem: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    assert!(lines[0].contains(name), "error does not name {name}: {err}");
    assert!(
        lines[0].to_lowercase().contains(&problem.to_lowercase()),
        "error does not say {problem:?}: {err}"
    );
}

/// A folder for fixtures a test binary shares through a `static` (statics are never
/// dropped, so a `TempDir` kept there was left behind by every run): under cargo's
/// folder for test files, named `NAME-PID`; the folders of runs whose process is gone are
/// removed first, so one run's fixtures at most stay on disk.
pub fn fixture_dir(name: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let prefix = format!("{name}-");
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = root.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `trainer transfer` of an encoder run to a music set in `mode`, with more flags.
pub fn transfer_to(encoder: &Path, music: &Path, mode: &str, out: &Path, flags: &[&str]) -> Output {
    let mut args = vec![
        "transfer",
        "--encoder",
        s(encoder),
        "--music",
        s(music),
        "--mode",
        mode,
        "--out",
        s(out),
    ];
    args.extend_from_slice(flags);
    trainer(&args)
}

/// `trainer transfer` of `encoder` to `music` in Feat. Ext. mode, one epoch of batch 16 (the
/// smallest run), with `extra` flags.
pub fn transfer_feat_ext(encoder: &Path, music: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut flags = vec!["--epochs", "1", "--batch", "16"];
    flags.extend_from_slice(extra);
    transfer_to(encoder, music, "feat-ext", out, &flags)
}

/// Asserts that `trainer evaluate --json`'s patch-level weighted quadrant F1 is the one the
/// model file stored for its test part (`trainer inspect --json`'s metadata `meta`).
pub fn assert_evaluation_is_stored(evaluation: &serde_json::Value, meta: &serde_json::Value) {
    let stored = meta["metrics"]["test"]["patch"]["quadrant"]["f1_weighted"]
        .as_f64()
        .unwrap();
    let f1 = evaluation["patch"]["quadrant"]["scores"]["weighted"]["f1"]
        .as_f64()
        .unwrap();
    assert!(
        (f1 - stored).abs() < 1e-9,
        "evaluate {f1} vs stored {stored}"
    );
}
