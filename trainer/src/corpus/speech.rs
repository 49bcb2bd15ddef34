//! What both speech stages share: the seconds per source for the report, parallel
//! synthesis up to a budget of seconds, and the text-to-speech programs (espeak-ng,
//! festival's text2wave) writing 16 kHz speech.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::Serialize;

use super::audio::{read_mono, write_speech};
use super::packages::run_cmd;

/// Seconds of speech per source, for the report.
#[derive(Default, Serialize)]
pub(super) struct SpeechStats {
    /// source -> (files, seconds)
    sources: BTreeMap<String, (usize, f64)>,
}

impl SpeechStats {
    pub fn add(&mut self, source: &str, seconds: f64) {
        let e = self.sources.entry(source.into()).or_default();
        e.0 += 1;
        e.1 += seconds;
    }
    pub fn total(&self) -> f64 {
        self.sources.values().map(|v| v.1).sum()
    }
}

/// One synthesis job: writes a file, returns its duration.
pub(super) type Job = Box<dyn Fn() -> Result<f64> + Send + Sync>;

/// Runs numbered jobs in parallel batches, in order, until `budget` seconds are reached;
/// the result is the same whatever the parallelism (extra files of the last batch are
/// removed). Returns the (path, seconds) kept.
pub(super) fn synthesize_until(
    budget: f64,
    max_jobs: usize,
    make: &dyn Fn(usize) -> (PathBuf, Job),
) -> Result<Vec<(PathBuf, f64)>> {
    let mut kept = Vec::new();
    let mut total = 0.0;
    let batch = rayon::current_num_threads().max(1) * 4;
    let mut i = 0;
    while total < budget && i < max_jobs {
        let jobs: Vec<(PathBuf, Job)> = (i..(i + batch).min(max_jobs)).map(make).collect();
        i += jobs.len();
        let results: Vec<Result<f64>> = jobs.par_iter().map(|(_, j)| j()).collect();
        for ((path, _), r) in jobs.into_iter().zip(results) {
            let secs = r?;
            if total < budget {
                total += secs;
                kept.push((path, secs));
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(kept)
}

fn tmp_wav(dir: &Path, tag: &str) -> PathBuf {
    dir.join(format!(".{tag}.tmp.wav"))
}

pub(super) fn espeak(voice: &str, rate: u32, pitch: u32, text: &str, out: &Path) -> Result<()> {
    run_cmd(
        Command::new("espeak-ng")
            .args([
                "-v",
                voice,
                "-s",
                &rate.to_string(),
                "-p",
                &pitch.to_string(),
                "-w",
            ])
            .arg(out)
            .arg("--")
            .arg(text),
    )
    .map(|_| ())
}

pub(super) fn festival(
    voice: &str,
    params: &str,
    text: &str,
    out: &Path,
    scratch: &Path,
) -> Result<()> {
    let txt = scratch.with_extension("txt");
    std::fs::write(&txt, text)?;
    let r = run_cmd(
        Command::new("text2wave")
            .arg("-eval")
            .arg(format!("({voice})"))
            .arg("-eval")
            .arg(params)
            .arg("-o")
            .arg(out)
            .arg(&txt),
    );
    let _ = std::fs::remove_file(&txt);
    r.map(|_| ())
}

/// Synthesizes with `synth` into a scratch file, converts it to 16 kHz speech at `out`.
pub(super) fn tts_to(out: &Path, synth: impl FnOnce(&Path) -> Result<()>) -> Result<f64> {
    let dir = out.parent().context("no parent")?;
    std::fs::create_dir_all(dir)?;
    let tmp = tmp_wav(dir, &out.file_stem().unwrap_or_default().to_string_lossy());
    synth(&tmp)?;
    let (s, rate) = read_mono(&tmp)?;
    let _ = std::fs::remove_file(&tmp);
    if s.len() < rate as usize / 2 {
        bail!("{}: synthesizer wrote under 0.5 s", out.display());
    }
    write_speech(out, &s, rate)
}
