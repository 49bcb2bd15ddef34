//! End-to-end runs of the `trainer` binary on real audio files and real model files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{assert_clean_failure, stderr, stdout, trainer, write_features};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// `trainer init --out OUT --seed SEED` and the `extra` flags, which must succeed.
fn init(out: &Path, seed: &str, extra: &[&str]) {
    let mut args = vec!["init", "--out", out.to_str().unwrap(), "--seed", seed];
    args.extend_from_slice(extra);
    let o = trainer(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// An untrained classifier file, written once through the CLI.
fn model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = common::fixture_dir("cli-model").join("untrained.mer");
        init(&path, "1", &[]);
        path
    })
}

fn load_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    (npy.shape().to_vec(), npy.into_vec::<f32>().unwrap())
}

fn features(audio: &Path, dir: &Path) -> (Vec<u64>, Vec<f32>) {
    let out = dir.join(format!(
        "{}.npy",
        audio.file_name().unwrap().to_string_lossy()
    ));
    write_features(audio, &out);
    load_npy(&out)
}

#[test]
fn features_match_librosa_through_the_cli() {
    let dir = tmp();
    let (shape, ours) = features(&fixtures().join("music.wav"), dir.path());
    let (ref_shape, reference) = load_npy(&fixtures().join("music_patches.npy"));
    assert_eq!(shape, ref_shape);
    assert_eq!(shape[1..], [1, 128, 31]);
    let max = ours
        .iter()
        .zip(&reference)
        .filter(|(_, r)| **r >= -7.0)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max <= 1e-3, "max diff {max}");
}

/// Writes a WAV with hound, then optionally adds a LIST chunk before the data chunk.
fn write_wav(
    path: &Path,
    rate: u32,
    channels: u16,
    bits: u16,
    float: bool,
    seconds: f32,
    list_chunk: bool,
) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (rate as f32 * seconds) as usize;
    for i in 0..n {
        let t = i as f32 / rate as f32;
        // A 440 Hz tone rising in loudness, and a different tone on the second channel.
        let a = 0.4 * (2.0 * std::f32::consts::PI * 440.0 * t).sin() * (0.5 + t / seconds);
        let b = 0.3 * (2.0 * std::f32::consts::PI * 660.0 * t).sin();
        for c in 0..channels {
            let x = if c == 0 { a } else { b };
            if float {
                w.write_sample(x).unwrap();
            } else {
                let scale = (1i64 << (bits - 1)) as f32 - 1.0;
                w.write_sample((x * scale) as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
    if list_chunk {
        let bytes = std::fs::read(path).unwrap();
        let data_at = bytes.windows(4).position(|w| w == b"data").unwrap();
        let mut list = b"LIST".to_vec();
        let body = b"INFOINAM\x06\x00\x00\x00title\x00";
        list.extend_from_slice(&(body.len() as u32).to_le_bytes());
        list.extend_from_slice(body);
        let mut out = bytes[..data_at].to_vec();
        out.extend_from_slice(&list);
        out.extend_from_slice(&bytes[data_at..]);
        let riff_len = (out.len() - 8) as u32;
        out[4..8].copy_from_slice(&riff_len.to_le_bytes());
        std::fs::write(path, out).unwrap();
    }
}

#[test]
fn every_wav_sample_format_gives_the_same_features() {
    let dir = tmp();
    let mut results = Vec::new();
    for (bits, float) in [
        (8, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
    ] {
        let path = dir.path().join(format!("tone_{bits}_{float}.wav"));
        write_wav(&path, 44_100, 2, bits, float, 2.0, bits == 24);
        results.push((bits, features(&path, dir.path())));
    }
    let (_, (shape, reference)) = &results[4];
    assert_eq!(shape, &vec![3, 1, 128, 31]);
    for (bits, (s, v)) in &results {
        assert_eq!(s, shape);
        // 8-bit quantisation noise lifts quiet bins to about ln(0.05) = -3: compare the
        // bins well above it.
        let (floor, tolerance) = if *bits == 8 {
            (-1.0, 0.1)
        } else {
            (-7.0, 0.005)
        };
        let d = mean_diff(v, reference, 0..128, floor);
        assert!(d <= tolerance, "{bits}-bit: mean |diff| {d}");
    }
}

/// Mean |difference| over mel bands `bands`, where the reference is >= `floor`.
fn mean_diff(ours: &[f32], reference: &[f32], bands: std::ops::Range<usize>, floor: f32) -> f32 {
    let (mut sum, mut n) = (0f32, 0usize);
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        let band = (i / 31) % 128;
        if bands.contains(&band) && *b >= floor {
            sum += (a - b).abs();
            n += 1;
        }
    }
    assert!(n > 100, "too few values compared: {n}");
    sum / n as f32
}

#[test]
fn compressed_formats_decode_close_to_the_wav() {
    let dir = tmp();
    let (wav_shape, wav) = features(&fixtures().join("music.wav"), dir.path());
    // FLAC is lossless; lame low-passes 16 kHz MP3 near 5.5 kHz (mel band 96), so the lossy
    // codecs are compared below it; Vorbis q4 leaves about 5 % relative error everywhere.
    for (name, bands, tolerance) in [
        ("music.flac", 0..128, 1e-3),
        ("music.mp3", 0..96, 0.05),
        ("music.ogg", 0..96, 0.25),
    ] {
        let path = fixtures().join(name);
        let (shape, v) = features(&path, dir.path());
        // Gapless decoding: encoder delay and padding are removed, so the patches align.
        assert_eq!(shape, wav_shape, "{name}");
        let d = mean_diff(&v, &wav, bands, -7.0);
        assert!(d <= tolerance, "{name}: mean |diff| {d}");
    }
}

#[test]
fn predict_prints_table_json_and_csv() {
    let model = model().to_str().unwrap();
    let song = fixtures().join("music.mp3");
    let song = song.to_str().unwrap();

    let o = trainer(&["predict", "--model", model, song]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(
        table.contains("music.mp3") && table.contains("quadrant"),
        "{table}"
    );
    assert!(
        table.contains("P(arousal+)") && table.contains("segments"),
        "{table}"
    );

    let o = trainer(&["predict", "--model", model, "--format", "json", song, song]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let songs = json.as_array().unwrap();
    assert_eq!(songs.len(), 2);
    for s in songs {
        for key in [
            "file",
            "quadrant",
            "probabilities",
            "arousal",
            "valence",
            "segments",
        ] {
            assert!(s.get(key).is_some(), "missing {key}: {s}");
        }
        let p = &s["probabilities"];
        let sum: f64 = ["Q1", "Q2", "Q3", "Q4"]
            .iter()
            .map(|q| p[q].as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-4, "{sum}");
        let segments = s["segments"].as_array().unwrap();
        assert!(segments.len() >= 8);
        // The song's probabilities are the mean of the segments'.
        let mean_q1: f64 = segments
            .iter()
            .map(|x| x["probabilities"]["Q1"].as_f64().unwrap())
            .sum::<f64>()
            / segments.len() as f64;
        assert!((mean_q1 - p["Q1"].as_f64().unwrap()).abs() < 1e-4);
        let best = ["Q1", "Q2", "Q3", "Q4"]
            .iter()
            .max_by(|a, b| p[**a].as_f64().partial_cmp(&p[**b].as_f64()).unwrap())
            .unwrap();
        assert_eq!(s["quadrant"], **best);
    }

    let o = trainer(&["predict", "--model", model, "--format", "csv", song]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "file,level,start,end,quadrant,q1,q2,q3,q4,arousal,valence"
    );
    assert_eq!(rows.iter().filter(|r| r.contains(",song,")).count(), 1);
    assert_eq!(
        rows.iter().filter(|r| r.contains(",segment,")).count(),
        songs[0]["segments"].as_array().unwrap().len()
    );
}

#[test]
fn inspect_shows_the_metadata() {
    let o = trainer(&["inspect", model().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in ["Int8", "16000 Hz", "128 mel bands", "format version"] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    let o = trainer(&["inspect", "--json", model().to_str().unwrap()]);
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(meta["recipe"]["n_fft"], 2048);
    assert_eq!(meta["precision"], "int8");
}

#[test]
fn a_4bit_model_file_predicts_like_its_int8_twin() {
    let dir = tmp();
    let q4 = dir.path().join("q4.mer");
    init(&q4, "1", &["--precision", "q4"]);
    let size = std::fs::metadata(&q4).unwrap().len();
    // about half of int8: 4-bit dense weights, 8-bit kernels (uniform untrained weights
    // deflate the least: 3.4 MB against 6.5)
    assert!(
        size < std::fs::metadata(model()).unwrap().len() / 2 + 250_000,
        "{size} bytes"
    );
    let o = trainer(&["inspect", "--json", q4.to_str().unwrap()]);
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(meta["precision"], "q4");
    let song = fixtures().join("music.wav");
    let p = |m: &Path| -> Vec<f64> {
        let o = trainer(&[
            "predict",
            "--format",
            "json",
            "--model",
            m.to_str().unwrap(),
            song.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut p: Vec<f64> = ["Q1", "Q2", "Q3", "Q4"]
            .iter()
            .map(|q| v[0]["probabilities"][q].as_f64().unwrap())
            .collect();
        p.extend(["arousal", "valence"].map(|k| v[0][k].as_f64().unwrap()));
        p
    };
    // The same seed's weights: 4-bit rounding moves the song's probabilities only a little.
    for (a, b) in p(&q4).iter().zip(p(model())) {
        assert!((a - b).abs() < 0.01, "{a} vs {b}");
    }
}

#[test]
fn bad_audio_gets_one_clear_line() {
    let dir = tmp();
    let d = dir.path();
    let model = model().to_str().unwrap();
    let out = d.join("x.npy");
    let out = out.to_str().unwrap();

    let text = d.join("notes.mp3");
    std::fs::write(
        &text,
        "this is not audio at all, just some text\n".repeat(50),
    )
    .unwrap();
    let empty = d.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let truncated = d.join("truncated.wav");
    write_wav(&truncated, 16_000, 1, 16, false, 3.0, false);
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let nan = d.join("nan.wav");
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&nan, spec).unwrap();
        for i in 0..32_000 {
            w.write_sample(if i == 5000 { f32::NAN } else { 0.1 })
                .unwrap();
        }
        w.finalize().unwrap();
    }
    // A header claiming a prime rate near 2^31 (the resampler's FFT would need gigabytes).
    let huge_rate = d.join("huge-rate.wav");
    write_wav(&huge_rate, 16_000, 1, 16, false, 1.0, false);
    let mut bytes = std::fs::read(&huge_rate).unwrap();
    assert_eq!(&bytes[12..16], b"fmt ");
    bytes[24..28].copy_from_slice(&2_147_483_629u32.to_le_bytes());
    bytes[28..32].copy_from_slice(&2_147_483_629u32.wrapping_mul(2).to_le_bytes());
    std::fs::write(&huge_rate, &bytes).unwrap();
    let missing = d.join("missing.wav");
    let cases: [(&Path, &str); 7] = [
        (&huge_rate, "out of range"),
        (&text, "not an audio file"),
        (&empty, "empty"),
        (&truncated, "truncated"),
        (&nan, "non-finite"),
        (d, "directory"),
        (&missing, "no such file"),
    ];
    for (path, problem) in cases {
        let p = path.to_str().unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_clean_failure(&trainer(&["features", p, "--out", out]), name, problem);
        assert_clean_failure(&trainer(&["predict", "--model", model, p]), name, problem);
    }
    assert!(
        !Path::new(out).exists(),
        "nothing may be written on failure"
    );
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    let dir = tmp();
    let bad = dir.path().join("bad.ogg");
    std::fs::write(&bad, b"OggS but not really").unwrap();
    let flac = fixtures().join("music.flac");
    let mp3 = fixtures().join("music.mp3");
    let o = trainer(&[
        "predict",
        "--model",
        model().to_str().unwrap(),
        "--format",
        "json",
        flac.to_str().unwrap(),
        bad.to_str().unwrap(),
        mp3.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("bad.ogg") && err.contains("1 of 3 files failed"),
        "{err}"
    );
    // The others are answered, in the order given.
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].ends_with("music.flac") && files[1].ends_with("music.mp3"));
}

#[test]
fn silence_and_short_clips() {
    let dir = tmp();
    let silent = dir.path().join("silent.wav");
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&silent, spec).unwrap();
        for _ in 0..44_100 {
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
    }
    // Silence: no division by zero; every value is ln(eps).
    let (shape, v) = features(&silent, dir.path());
    assert_eq!(shape, vec![3, 1, 128, 31]);
    let floor = f32::EPSILON.ln();
    assert!(v.iter().all(|x| (x - floor).abs() < 1e-4));
    let o = trainer(&[
        "predict",
        "--model",
        model().to_str().unwrap(),
        silent.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Shorter than one patch: `features` writes 0 patches, `predict` refuses.
    let short = fixtures().join("short.wav");
    let (shape, _) = features(&short, dir.path());
    assert_eq!(shape, vec![0, 1, 128, 31]);
    let o = trainer(&[
        "predict",
        "--model",
        model().to_str().unwrap(),
        short.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, "short.wav", "too short");
}

#[test]
fn damaged_model_files_are_refused() {
    let dir = tmp();
    let bytes = std::fs::read(model()).unwrap();
    let song = fixtures().join("music.wav");
    let song = song.to_str().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cut.mer", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        (
            "flipped.mer",
            {
                let mut b = bytes.clone();
                let i = b.len() / 2;
                b[i] ^= 1;
                b
            },
            "checksum",
        ),
        (
            "song.mer",
            std::fs::read(fixtures().join("music.wav")).unwrap(),
            "not a mer model file",
        ),
    ];
    for (name, content, problem) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let p = path.to_str().unwrap();
        assert_clean_failure(&trainer(&["predict", "--model", p, song]), name, problem);
        assert_clean_failure(&trainer(&["inspect", p]), name, problem);
    }
}

/// burn-wgpu natively (Vulkan; Mesa's lavapipe on a machine without a GPU) gives the same
/// answer as the CPU backend.
#[test]
fn wgpu_matches_the_cpu_backend() {
    let model = model().to_str().unwrap();
    let song = fixtures().join("music.wav");
    let song = song.to_str().unwrap();
    let run = |device: &str| {
        let o = trainer(&[
            "predict", "--model", model, "--device", device, "--format", "json", song,
        ]);
        assert!(o.status.success(), "{device}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v[0].clone()
    };
    let (cpu, gpu) = (run("cpu"), run("wgpu"));
    assert_eq!(cpu["quadrant"], gpu["quadrant"]);
    for (a, b) in cpu["segments"]
        .as_array()
        .unwrap()
        .iter()
        .zip(gpu["segments"].as_array().unwrap())
    {
        for q in ["Q1", "Q2", "Q3", "Q4"] {
            let (x, y) = (
                a["probabilities"][q].as_f64().unwrap(),
                b["probabilities"][q].as_f64().unwrap(),
            );
            assert!((x - y).abs() < 1e-4, "{q}: cpu {x} vs wgpu {y}");
        }
    }
}

#[test]
fn index_lists_the_model_files_as_json_and_markdown() {
    let dir = tmp();
    for (name, seed) in [("a.mer", "1"), ("b.mer", "2")] {
        let out = dir.path().join(name);
        init(&out, seed, &[]);
    }
    std::fs::write(dir.path().join("notes.txt"), "not a model").unwrap();
    let o = trainer(&["index", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let files: Vec<&str> = index["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["a.mer", "b.mer"]);
    let size = std::fs::metadata(dir.path().join("a.mer")).unwrap().len();
    assert_eq!(index["models"][0]["size"].as_u64(), Some(size));
    assert_eq!(index["models"][0]["meta"]["variant"]["method"], "none");
    // The Markdown table: a header, its rule and one row per file.
    let table = stdout(&o);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows[2].starts_with("| a.mer |") && rows[3].starts_with("| b.mer |"));
    assert!(
        rows[2].contains("| - / - / - |"),
        "untrained: no scores: {}",
        rows[2]
    );

    assert!(index.get("default").is_none(), "no default unless named");

    // --default names the page's first model; a later index keeps it while the file stays.
    let read_default = || -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(dir.path().join("index.json")).unwrap(),
        )
        .unwrap()["default"]
            .clone()
    };
    let d = dir.path().to_str().unwrap();
    let o = trainer(&["index", d, "--default", "b.mer"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_default(), "b.mer");
    assert!(trainer(&["index", d]).status.success());
    assert_eq!(read_default(), "b.mer");
    let o = trainer(&["index", d, "--default", "nope.mer"]);
    assert_clean_failure(&o, "nope.mer", "no such model file");
    assert_eq!(
        read_default(),
        "b.mer",
        "a refused index leaves the old one"
    );
    std::fs::remove_file(dir.path().join("b.mer")).unwrap();
    assert!(trainer(&["index", d]).status.success());
    assert!(read_default().is_null(), "the default left with its file");

    // A damaged model file stops the index with one line naming it.
    std::fs::write(dir.path().join("c.mer"), b"MERMODEL").unwrap();
    let o = trainer(&["index", dir.path().to_str().unwrap()]);
    assert_clean_failure(&o, "c.mer", "truncated");
}

/// Runs the trainer under strace, killed (SIGKILL) at its `n`-th write system call:
/// the moment a non-atomic writer would have left a half-written file.
fn killed_at_write(n: usize, args: &[&str]) -> std::process::ExitStatus {
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=write", "-e"])
        .arg(format!("inject=write:signal=KILL:when={n}"))
        .arg(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("strace runs (scripts/setup.sh installs it)")
}

#[test]
fn a_killed_index_or_export_leaves_the_previous_files_whole() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tmp();
    let d = dir.path().to_str().unwrap();
    let path = |name: &str| dir.path().join(name);
    for (name, seed) in [("a.mer", "1"), ("b.mer", "2")] {
        init(&path(name), seed, &[]);
    }
    let o = trainer(&["index", d, "--default", "a.mer"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let old_index = std::fs::read(path("index.json")).unwrap();
    let old_model = std::fs::read(path("a.mer")).unwrap();
    let same = |a: &[u8], b: &[u8]| a.len() == b.len() && a == b;
    let (mut index_hits, mut model_hits) = (0, 0);
    for n in 1..=4 {
        // `trainer index` killed at its n-th write: index.json is the old one, whole (a
        // rerun of the same index writes the same bytes)
        let status = killed_at_write(n, &["index", d]);
        let now = std::fs::read(path("index.json")).unwrap();
        assert!(
            same(&now, &old_index),
            "index.json is not whole after a kill at write {n}"
        );
        index_hits += usize::from(status.signal() == Some(9));
        // an export over an existing model file (`trainer init`) killed at its n-th write:
        // the old file, or the new one whole (its checksum holds), never a part
        let status = killed_at_write(
            n,
            &[
                "init",
                "--out",
                path("a.mer").to_str().unwrap(),
                "--seed",
                "9",
            ],
        );
        let now = std::fs::read(path("a.mer")).unwrap();
        let whole = same(&now, &old_model)
            || mer::model_file::ModelFile::from_bytes(&now)
                .is_ok_and(|f| f.meta.training["seed"] == 9);
        assert!(
            whole,
            "a.mer ({} bytes) is not whole after a kill at write {n}",
            now.len()
        );
        if status.signal() == Some(9) && same(&now, &old_model) {
            model_hits += 1;
        }
        std::fs::write(path("a.mer"), &old_model).unwrap();
    }
    // the kills did land before the files were replaced (at the writes themselves)
    assert!(
        index_hits > 0 && model_hits > 0,
        "no kill landed: {index_hits} {model_hits}"
    );
}

#[test]
fn init_makes_test_models_that_claim_a_variant_and_scores() {
    let dir = tmp();
    let out = dir.path().join("c.mer");
    init(
        &out,
        "2",
        &["--variant", "scae:eng+man:full", "--claimed-f1", "0.52"],
    );
    let o = trainer(&["inspect", "--json", out.to_str().unwrap()]);
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(meta["variant"]["method"], "scae");
    assert_eq!(
        meta["variant"]["pretrain_languages"],
        serde_json::json!(["eng", "man"])
    );
    assert_eq!(meta["variant"]["mode"], "full");
    assert_eq!(
        meta["metrics"]["test"]["patch"]["quadrant"]["f1_weighted"],
        0.52
    );
    // still marked as what it is: random weights
    assert_eq!(meta["training"]["untrained"], true);
    for (flag, value, says) in [
        ("--variant", "scae:full", "METHOD:LANGS:MODE"),
        ("--variant", "dae:eng:full", "unknown method"),
        ("--variant", "cpc:eng:fine", "unknown transfer mode"),
        ("--claimed-f1", "1.5", "not a number from 0 to 1"),
    ] {
        let bad = dir.path().join("bad.mer");
        let o = trainer(&["init", "--out", bad.to_str().unwrap(), flag, value]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(says), "{flag} {value}: {}", stderr(&o));
        assert!(!bad.exists());
    }
}
