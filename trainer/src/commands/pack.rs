//! `trainer pack`: a speech folder or a music set computed once into a feature pack
//! ([`crate::data::pack`], which owns the file's layout), on every core.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mer::{FeatureExtractor, LogMel};
use rayon::prelude::*;

use crate::data::pack::{self, Corpus, MusicEntry, PackWriter, SpeechEntry};
use crate::data::{self, AvMapping, FeatureCache, SpeechSource, Utterance, progress_bar};
use crate::io;

/// What `trainer pack` wrote.
#[derive(Debug, Clone)]
pub struct PackSummary {
    pub out: PathBuf,
    /// "speech" or "music".
    pub kind: &'static str,
    pub entries: usize,
    /// Hours of audio: of speech as drawn (the files' durations); of music, covered by
    /// patches.
    pub hours: f64,
    pub bytes: u64,
    pub sha256: String,
}

impl PackSummary {
    /// One line for the terminal.
    pub fn line(&self) -> String {
        format!(
            "{}: {} pack, {} entries, {:.2} h, {} bytes ({:.1} MB), sha256 {}",
            self.out.display(),
            self.kind,
            self.entries,
            self.hours,
            self.bytes,
            self.bytes as f64 / 1e6,
            self.sha256
        )
    }
}

/// Log-mel frames of audio files: through a feature cache (the frames its patches cover:
/// what a pack stores), or computed afresh.
struct Frames {
    extractor: FeatureExtractor,
    cache: Option<FeatureCache>,
}

impl Frames {
    fn new(cache: Option<&Path>) -> Result<Self> {
        Ok(Self {
            extractor: FeatureExtractor::default(),
            cache: cache.map(FeatureCache::new).transpose()?,
        })
    }

    fn of(&self, path: &Path) -> Result<LogMel> {
        let recipe = self.extractor.recipe();
        if let Some(cache) = &self.cache {
            let p = cache.patches(path)?;
            return pack::frames_of_patches(recipe, &p)
                .context("the recipe's patches leave frames out; pack without --cache");
        }
        let samples = io::load_samples(path, recipe)?;
        let mel = self.extractor.log_mel(&samples);
        if mel.data.iter().any(|x| !x.is_finite()) {
            bail!("non-finite features");
        }
        Ok(mel)
    }

    /// The frames of each file in order (none where `files` has none), on every core, a
    /// few batches at a time, handed to `take` one by one.
    fn each(
        &self,
        files: &[Option<&Path>],
        what: &str,
        mut take: impl FnMut(usize, Option<Result<LogMel>>) -> Result<()>,
    ) -> Result<()> {
        let pb = progress_bar(files.len() as u64, &format!("features: {what}"));
        let batch = 4 * rayon::current_num_threads();
        for (b, chunk) in files.chunks(batch).enumerate() {
            let frames: Vec<Option<Result<LogMel>>> = chunk
                .par_iter()
                .map(|f| {
                    let r = f.map(|p| self.of(p));
                    pb.inc(1);
                    r
                })
                .collect();
            for (k, f) in frames.into_iter().enumerate() {
                take(b * batch + k, f)?;
            }
        }
        pb.finish_and_clear();
        Ok(())
    }
}

/// `path` relative to `root`, `/`-separated (as it is when it is not under `root`).
fn relative(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.iter()
        .map(|c| c.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `trainer pack --speech DIR`: every audio file of the folder in its sorted order (so
/// that the pack draws as the folder does), or with `hours` those `pretrain --hours`
/// draws with `seed`. A file whose header is unreadable is kept without frames or
/// duration (never drawn); one that does not decode, without frames.
pub fn pack_speech(
    src: &SpeechSource,
    hours: Option<f64>,
    seed: u64,
    cache: Option<&Path>,
    out: &Path,
) -> Result<PackSummary> {
    if src.dir.is_file() {
        bail!(
            "{}: a file; --speech takes a folder of audio files",
            src.dir.display()
        );
    }
    let files: Vec<(PathBuf, Option<f64>)> = if hours.is_some() {
        let draw = data::draw_speech(std::slice::from_ref(src), hours, seed)?;
        let mut drawn: Vec<(PathBuf, Option<f64>)> = draw
            .drawn
            .into_iter()
            .filter_map(|(_, u, s)| match u {
                Utterance::File(p) => Some((p, Some(s))),
                Utterance::Packed { .. } => None,
            })
            .collect();
        drawn.sort_by(|a, b| a.0.cmp(&b.0));
        drawn
    } else {
        let files = data::scan_audio(&src.dir)?;
        if files.is_empty() {
            bail!(
                "{}: no audio files ({})",
                src.dir.display(),
                data::AUDIO_EXTENSIONS.join(", ")
            );
        }
        files
            .into_par_iter()
            .map(|p| match data::duration_seconds(&p) {
                Ok(s) => (p, Some(s)),
                Err(e) => {
                    eprintln!(
                        "warning: {}: kept without frames (never drawn): {e:#}",
                        p.display()
                    );
                    (p, None)
                }
            })
            .collect()
    };
    let frames = Frames::new(cache)?;
    let mut writer = PackWriter::create(out, frames.extractor.recipe())?;
    let mut entries = Vec::with_capacity(files.len());
    let todo: Vec<Option<&Path>> = files.iter().map(|(p, s)| s.map(|_| p.as_path())).collect();
    frames.each(&todo, &src.language, |i, mel| {
        let (path, seconds) = &files[i];
        let mel = match mel {
            Some(Ok(mel)) => Some(mel),
            Some(Err(e)) => {
                eprintln!("warning: {}: kept without frames: {e:#}", path.display());
                None
            }
            None => None,
        };
        entries.push(SpeechEntry {
            name: relative(path, &src.dir),
            frames: writer.push(mel.as_ref())?,
            seconds: *seconds,
        });
        Ok(())
    })?;
    let seconds: f64 = entries.iter().filter_map(|e| e.seconds).sum();
    let n = entries.len();
    let written = writer.finish(Corpus::Speech {
        language: src.language.clone(),
        files: entries,
    })?;
    Ok(PackSummary {
        out: out.to_path_buf(),
        kind: "speech",
        entries: n,
        hours: seconds / 3600.0,
        bytes: written.bytes,
        sha256: written.sha256,
    })
}

/// `trainer pack --music CSV|DIR`: every song `transfer --music` would read (labels made
/// with `mapping`), named `name` in model files; a song whose audio does not decode is
/// left out, as `transfer` leaves it out.
pub fn pack_music(
    music: &Path,
    mapping: AvMapping,
    name: &str,
    cache: Option<&Path>,
    out: &Path,
) -> Result<PackSummary> {
    if data::is_pack(music) {
        bail!("{}: already a feature pack", music.display());
    }
    let songs = data::read_music(music, mapping)?;
    let root = if music.is_dir() {
        music
    } else {
        music.parent().unwrap_or(Path::new(""))
    };
    let frames = Frames::new(cache)?;
    let mut writer = PackWriter::create(out, frames.extractor.recipe())?;
    let mut entries = Vec::with_capacity(songs.len());
    let todo: Vec<Option<&Path>> = songs.iter().map(|s| Some(s.path.as_path())).collect();
    frames.each(&todo, &music.display().to_string(), |i, mel| {
        let song = &songs[i];
        match mel {
            Some(Ok(mel)) => entries.push(MusicEntry {
                frames: writer.push(Some(&mel))?,
                song: data::Song {
                    path: relative(&song.path, root).into(),
                    ..song.clone()
                },
            }),
            Some(Err(e)) => eprintln!("warning: {}: {e:#}; skipped", song.path.display()),
            None => {}
        }
        Ok(())
    })?;
    if entries.is_empty() {
        bail!("{}: no song with usable audio", music.display());
    }
    let recipe = frames.extractor.recipe();
    let covered: usize = entries.iter().map(|e| e.frames).sum();
    let n = entries.len();
    let written = writer.finish(Corpus::Music {
        name: name.to_string(),
        av_midpoint: mapping.midpoint,
        songs: entries,
    })?;
    Ok(PackSummary {
        out: out.to_path_buf(),
        kind: "music",
        entries: n,
        hours: (covered * recipe.hop_length) as f64 / f64::from(recipe.sample_rate) / 3600.0,
        bytes: written.bytes,
        sha256: written.sha256,
    })
}
