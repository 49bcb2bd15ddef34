//! Throughput of the two costly stages of a prediction, on one 4-minute song:
//! (a) the log-mel front end, (b) the classifier on burn's flex CPU backend.
//!
//! Run (multi-threaded kernels need the `rayon` feature):
//!
//! ```sh
//! export CARGO_TARGET_DIR=/root/.cache/mer/target
//! cargo bench -p mer --bench throughput --features rayon
//! ```
//!
//! The song is synthesised here, deterministically (tones, drums, noise and a chirp at
//! 44.1 kHz, stereo, 16-bit), and written as a WAV file so that `bench/reference.py` measures
//! librosa and PyTorch on the very same samples. Environment:
//! - `MER_BENCH_WAV`: where to write the song (default: `$TMPDIR/mer_bench_song.wav`);
//! - `MER_BENCH_RUNS`: timed runs of each front-end stage (default 7);
//! - `MER_BENCH_BATCHES`: timed batches per batch size (default 10, after 2 of warm-up);
//! - `MER_BENCH_MALLOC=default`: glibc's malloc settings rather than those `trainer` sets
//!   for every command (`mer::alloc`).
//!
//! Every figure is the median of its runs. Prints two Markdown tables.

use std::f64::consts::PI;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::prelude::*;
use mer::audio::{Audio, prepare};
use mer::inference::predict_patches;
use mer::model::Classifier;
use mer::{FeatureExtractor, Patches};

/// Sample rate of the synthetic song.
const SONG_RATE: u32 = 44_100;
/// Length of the synthetic song.
const SONG_SECONDS: usize = 240;
/// The recipe's rate.
const TARGET_RATE: u32 = 16_000;
/// Batch sizes measured for inference.
const BATCHES: [usize; 2] = [32, 64];
/// Untimed batches before the timed ones.
const WARM_UP: usize = 2;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// xorshift64*: deterministic noise, identical on every machine.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // uniform in [-1, 1)
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// A 4-minute, 44.1 kHz stereo "song" quantised to 16 bits: a chord progression of
/// harmonic tones (one chord per bar, a note per beat), a kick on every beat, a noise
/// hi-hat on the off-beats, a repeating log chirp and a noise floor; instruments panned
/// differently in the two channels. Returns interleaved i16 samples.
fn synthesize_song() -> Vec<i16> {
    let sr = f64::from(SONG_RATE);
    let n = SONG_SECONDS * SONG_RATE as usize;
    let beat = 0.5; // 120 bpm
    // Chords (MIDI notes) of a I-vi-IV-V progression in C, one per bar of 4 beats.
    let chords: [[i32; 3]; 4] = [[60, 64, 67], [57, 60, 64], [53, 57, 60], [55, 59, 62]];
    let hz = |midi: i32| 440.0 * 2f64.powf(f64::from(midi - 69) / 12.0);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let t = i as f64 / sr;
        let beat_index = (t / beat) as usize;
        let in_beat = t - beat_index as f64 * beat;
        let bar = beat_index / 4;
        let chord = chords[bar % 4];
        // Pad: the bar's chord, slowly swelling.
        let mut pad = 0.0;
        for (k, &note) in chord.iter().enumerate() {
            let f = hz(note - 12);
            pad += (2.0 * PI * f * t + k as f64).sin() * 0.12;
        }
        pad *= 0.6 + 0.4 * (2.0 * PI * t / 8.0).sin().abs();
        // Lead: one chord note per beat, five harmonics, exponential decay.
        let note = chord[beat_index % 3] + 12 * ((bar / 4) % 2) as i32;
        let f = hz(note);
        let env = (-in_beat * 6.0).exp();
        let lead: f64 = (1..=5)
            .map(|h| (2.0 * PI * f * h as f64 * t).sin() / (h * h) as f64)
            .sum::<f64>()
            * env
            * 0.35;
        // Kick: a sine falling from 150 Hz to 50 Hz, on every beat.
        let kick_f = 50.0 + 100.0 * (-in_beat * 30.0).exp();
        let kick = (2.0 * PI * kick_f * in_beat).sin() * (-in_beat * 12.0).exp() * 0.5;
        // Hi-hat: a noise burst on the off-beats.
        let off = in_beat - beat / 2.0;
        let noise = rng.next_f64();
        let hat = if off >= 0.0 {
            noise * (-off * 60.0).exp() * 0.2
        } else {
            0.0
        };
        // A log chirp from 100 Hz to 7 kHz every 30 s, quiet.
        let tc = t % 30.0;
        let k = (7000.0f64 / 100.0).ln() / 30.0;
        let chirp = (2.0 * PI * 100.0 * ((k * tc).exp() - 1.0) / k).sin() * 0.05;
        let floor = rng.next_f64() * 0.003;
        let left = 0.7 * pad + 0.4 * lead + kick + 0.8 * hat + chirp + floor;
        let right = 0.5 * pad + 0.7 * lead + kick + 0.3 * hat + chirp - floor;
        for x in [left, right] {
            out.push((x * 0.5 * 32767.0).round().clamp(-32768.0, 32767.0) as i16);
        }
    }
    out
}

/// A 16-bit PCM WAV file of interleaved samples.
fn wav_bytes(interleaved: &[i16], channels: u16, rate: u32) -> Vec<u8> {
    let data_len = (interleaved.len() * 2) as u32;
    let block = channels * 2;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    b.extend_from_slice(&block.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in interleaved {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

/// De-interleaves 16-bit samples to f32 channels, scaled as WAV decoders do (x / 32768).
fn to_audio(interleaved: &[i16], channels: usize, rate: u32) -> Audio {
    let mut chans = vec![Vec::with_capacity(interleaved.len() / channels); channels];
    for frame in interleaved.chunks_exact(channels) {
        for (c, &x) in chans.iter_mut().zip(frame) {
            c.push(f32::from(x) / 32768.0);
        }
    }
    Audio {
        sample_rate: rate,
        channels: chans,
    }
}

/// Median of `runs` timings of `f` (after one untimed call).
fn median_time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    black_box(f());
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    median(&mut times)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn threads() -> String {
    #[cfg(feature = "rayon")]
    {
        format!("{} (rayon)", rayon::current_num_threads())
    }
    #[cfg(not(feature = "rayon"))]
    {
        "1 (built without the `rayon` feature)".to_string()
    }
}

fn main() {
    // As `trainer` sets malloc for every command, `predict` included (mer::alloc);
    // MER_BENCH_MALLOC=default keeps glibc's defaults.
    let tuned = std::env::var("MER_BENCH_MALLOC").as_deref() != Ok("default")
        && mer::alloc::tune_for_training();
    let runs = env_usize("MER_BENCH_RUNS", 7);
    let n_batches = env_usize("MER_BENCH_BATCHES", 10);
    let wav_path = std::env::var_os("MER_BENCH_WAV")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mer_bench_song.wav"));

    let start = Instant::now();
    let song = synthesize_song();
    let bytes = wav_bytes(&song, 2, SONG_RATE);
    std::fs::write(&wav_path, &bytes).expect("cannot write the song's WAV file");
    eprintln!(
        "synthesised {SONG_SECONDS} s at {SONG_RATE} Hz, stereo, in {:.1} s -> {}",
        start.elapsed().as_secs_f64(),
        wav_path.display()
    );
    let audio = to_audio(&song, 2, SONG_RATE);
    let seconds = audio.seconds();

    // (a) Front end.
    let fx = FeatureExtractor::default();
    let samples_16k = prepare(&audio, TARGET_RATE).expect("the song prepares");
    let patches: Patches = fx.patches(&samples_16k);
    let t_patches = median_time(runs, || fx.patches(&samples_16k));
    let t_prepare = median_time(runs, || prepare(&audio, TARGET_RATE).unwrap());
    let t_front = median_time(runs, || fx.patches(&prepare(&audio, TARGET_RATE).unwrap()));
    #[cfg(feature = "decode")]
    let t_decode_front = Some(median_time(runs, || {
        // Read from the file each time, as `librosa.load` does on the Python side.
        let bytes = std::fs::read(&wav_path).expect("the song's WAV file reads");
        let decoded = mer::audio::decode(&bytes, Some("wav")).unwrap();
        fx.patches(&prepare(&decoded, TARGET_RATE).unwrap())
    }));
    #[cfg(not(feature = "decode"))]
    let t_decode_front: Option<Duration> = None;

    println!();
    println!(
        "### Front end (Rust, mer), {seconds:.0} s song: {} samples at 16 kHz, {} patches; median of {runs} runs",
        samples_16k.len(),
        patches.n
    );
    println!();
    println!("| stage | median ms | x real time |");
    println!("|---|---:|---:|");
    let row = |name: &str, d: Duration| {
        println!(
            "| {name} | {:.1} | {:.0} |",
            ms(d),
            seconds / d.as_secs_f64()
        );
    };
    row(
        "log-mel patches from 16 kHz mono (`FeatureExtractor::patches`)",
        t_patches,
    );
    row(
        "44.1 kHz stereo -> 16 kHz mono + normalise (`audio::prepare`)",
        t_prepare,
    );
    row(
        "full front end: 44.1 kHz stereo -> mono 16 kHz + normalise + patches",
        t_front,
    );
    if let Some(d) = t_decode_front {
        row("WAV file: read + decode + full front end", d);
    }

    // (b) Classifier inference on flex.
    let device = Device::flex();
    let model = Classifier::new(&device).valid();
    let per = patches.n_mels * patches.frames;
    println!();
    println!(
        "### Classifier inference (Rust, burn 0.22.1 flex), CPU threads: {}; {} parameters (burn's count, with BatchNorm running statistics); median of {n_batches} batches after {WARM_UP} of warm-up; malloc {}",
        threads(),
        model.num_params(),
        if tuned {
            "tuned as trainer sets it"
        } else {
            "defaults"
        }
    );
    println!();
    println!("| batch | median ms / batch | patches/s |");
    println!("|---:|---:|---:|");
    for batch in BATCHES {
        // Successive batches of the song's patches (wrapping around).
        let mut times = Vec::with_capacity(n_batches);
        for i in 0..WARM_UP + n_batches {
            let first = (i * batch) % patches.n.saturating_sub(batch).max(1);
            let data = patches.data[first * per..(first + batch) * per].to_vec();
            let chunk = Patches {
                n: batch,
                n_mels: patches.n_mels,
                frames: patches.frames,
                data,
            };
            let start = Instant::now();
            let probs =
                pollster::block_on(predict_patches(&model, &chunk, &device, batch, |_, _| {}))
                    .expect("inference runs");
            let elapsed = start.elapsed();
            assert_eq!(probs.len(), batch);
            black_box(probs);
            if i >= WARM_UP {
                times.push(elapsed);
            }
        }
        let t = median(&mut times);
        println!(
            "| {batch} | {:.1} | {:.1} |",
            ms(t),
            batch as f64 / t.as_secs_f64()
        );
    }
}
