//! The corpus's audio in and out: decoding to mono (through `io::read_audio` and
//! `mer::audio`), headerless 16-bit speech, 16-bit WAV written atomically, speech stored at
//! a common rate and level, and finding a package's files of one kind.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::SPEECH_RATE;
use crate::{data, io};

/// Writes mono 16-bit WAV atomically.
pub(super) fn write_wav(path: &Path, samples: &[f32], rate: u32) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(samples.len() * 2 + 44));
    {
        let mut w = hound::WavWriter::new(&mut bytes, spec)?;
        for &s in samples {
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
        }
        w.finalize()?;
    }
    io::write_atomic(path, bytes.get_ref())
}

/// Decodes any audio file to mono at its own rate.
pub(super) fn read_mono(path: &Path) -> Result<(Vec<f32>, u32)> {
    let a = io::read_audio(path).with_context(|| format!("{}", path.display()))?;
    Ok((mer::audio::to_mono(&a.channels), a.sample_rate))
}

/// Decodes a file to mono at `rate`.
pub(super) fn read_mono_at(path: &Path, rate: u32) -> Result<Vec<f32>> {
    let (s, from) = read_mono(path)?;
    Ok(mer::audio::resample(&s, from, rate)?)
}

/// Headerless 16-bit little-endian mono (pocketsphinx's and codec2's .raw).
pub(super) fn read_raw16(path: &Path) -> Result<Vec<f32>> {
    let b = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    Ok(b.chunks_exact(2)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect())
}

/// Scales to a peak of `peak` (speech is stored at a common level).
///
/// Not `mer::audio::peak_normalise` followed by a gain: that divides by the peak and then
/// multiplies, which rounds differently from one multiplication by `peak / max`, and scales
/// up near-silence (any peak above 0, not 1e-6); either would change the speech files.
fn normalise(samples: &mut [f32], peak: f32) {
    let m = samples.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if m > 1e-6 {
        let g = peak / m;
        samples.iter_mut().for_each(|x| *x *= g);
    }
}

/// Writes speech as 16 kHz mono WAV; returns its duration in seconds.
pub(super) fn write_speech(path: &Path, samples: &[f32], rate: u32) -> Result<f64> {
    let mut s = mer::audio::resample(samples, rate, SPEECH_RATE)?;
    normalise(&mut s, 0.9);
    write_wav(path, &s, SPEECH_RATE)?;
    Ok(s.len() as f64 / f64::from(SPEECH_RATE))
}

/// Every file under `dir` whose extension (any case) is one of `ext`, sorted; none when
/// `dir` is missing (package layouts differ between versions: callers fall back).
/// `data::scan_audio` keeps every audio extension, so it is not used here.
pub(super) fn files_with(dir: &Path, ext: &[&str]) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    data::files_under(dir, |p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ext.contains(&e.to_ascii_lowercase().as_str()))
    })
}

/// The entries directly in `dir` (not below) that `keep` accepts, sorted.
pub(super) fn files_in(dir: &Path, keep: impl Fn(&Path) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| keep(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether a path's extension is `ext` (as written).
pub(super) fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}
