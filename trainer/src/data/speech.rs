//! Speech corpora: audio files found under folders (or feature packs of them), their
//! durations from the headers, and the seeded draw of so many hours from one or several
//! languages.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::pack::{self, Corpus, FeaturePack};
use crate::io;

/// File extensions read as audio when scanning folders.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "flac", "mp3", "ogg", "m4a", "aac"];

/// Every audio file under `dir`, sorted (LibriSpeech's FLAC tree and AISHELL-1's WAV tree
/// work as they are).
pub fn scan_audio(dir: &Path) -> Result<Vec<PathBuf>> {
    files_under(dir, |path| {
        path.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
    })
}

/// Every file under `dir` (recursively) that `keep` accepts, sorted.
pub fn files_under(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("{}: not a folder", dir.display());
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    // Each folder is read once, however it is reached: linked folders are followed, and a
    // link to a folder above cannot loop.
    let mut seen = std::collections::HashSet::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(std::fs::canonicalize(&d).unwrap_or_else(|_| d.clone())) {
            continue;
        }
        for entry in std::fs::read_dir(&d).with_context(|| format!("{}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if keep(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Duration of an audio file from its header where possible (no full decode).
pub fn duration_seconds(path: &Path) -> Result<f64> {
    let is_wav = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
    if is_wav && let Ok(r) = hound::WavReader::open(path) {
        let spec = r.spec();
        return Ok(f64::from(r.duration()) / f64::from(spec.sample_rate.max(1)));
    }
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    let file = std::fs::File::open(path)?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| anyhow::anyhow!("cannot read the audio header: {e}"))?;
    let track = probed.format.default_track().context("no audio track")?;
    match (track.codec_params.n_frames, track.codec_params.sample_rate) {
        (Some(n), Some(rate)) if rate > 0 => Ok(n as f64 / f64::from(rate)),
        // No length in the header: decode it.
        _ => Ok(io::read_audio(path)?.seconds()),
    }
}

/// A speech corpus: a language code and a folder, or a feature pack of one
/// ([`super::pack`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpeechSource {
    pub language: String,
    /// The folder, or the feature pack.
    pub dir: PathBuf,
}

impl std::str::FromStr for SpeechSource {
    type Err = String;
    /// `LANG=DIR`, or `DIR` (the language is then the folder's name, or the language a
    /// feature pack was made with).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((lang, dir)) if !lang.is_empty() && !lang.contains('/') => Ok(Self {
                language: lang.to_string(),
                dir: PathBuf::from(dir),
            }),
            _ => {
                let dir = PathBuf::from(s);
                if pack::is_pack(&dir)
                    && let Ok(Corpus::Speech { language, .. }) = pack::peek(&dir)
                {
                    return Ok(Self { language, dir });
                }
                let language = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "speech".into());
                Ok(Self { language, dir })
            }
        }
    }
}

/// Where a drawn utterance's features come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Utterance {
    /// An audio file.
    File(PathBuf),
    /// Entry `entry` of the feature pack [`SpeechDraw::packs`]`[pack]`.
    Packed { pack: usize, entry: usize },
}

/// The utterances drawn from speech corpora, and the feature packs among the corpora
/// (opened and checked).
pub struct SpeechDraw {
    /// (language, utterance, seconds): corpus by corpus, each in the order drawn.
    pub drawn: Vec<(String, Utterance, f64)>,
    pub packs: Vec<FeaturePack>,
}

impl SpeechDraw {
    /// The audio files drawn, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.drawn
            .iter()
            .filter_map(|(_, u, _)| match u {
                Utterance::File(p) => Some(p.clone()),
                Utterance::Packed { .. } => None,
            })
            .collect()
    }
}

/// What one corpus offers to draw from: its audio files (sorted), or a pack's entries (in
/// the same order, when it packs a whole folder).
enum Candidates {
    Files(Vec<PathBuf>),
    Pack(usize),
}

/// The files drawn from each speech corpus: a seeded random subset of `hours` in all,
/// split equally between the corpora (the paper's mixture), or everything. A feature pack
/// of a whole folder draws exactly the files (and in the order) that the folder draws.
pub fn draw_speech(sources: &[SpeechSource], hours: Option<f64>, seed: u64) -> Result<SpeechDraw> {
    let mut drawn = Vec::new();
    let mut packs = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let candidates = if src.dir.is_file() {
            let pack = FeaturePack::open(&src.dir)?;
            let (language, _) = pack.speech()?;
            if language != src.language {
                eprintln!(
                    "warning: {}: packed as {language:?} speech, used as {:?}",
                    src.dir.display(),
                    src.language
                );
            }
            if pack.is_empty() {
                bail!("{}: a feature pack without speech", src.dir.display());
            }
            packs.push(pack);
            Candidates::Pack(packs.len() - 1)
        } else {
            let files = scan_audio(&src.dir)?;
            if files.is_empty() {
                bail!(
                    "{}: no audio files ({})",
                    src.dir.display(),
                    AUDIO_EXTENSIONS.join(", ")
                );
            }
            Candidates::Files(files)
        };
        let n = match &candidates {
            Candidates::Files(files) => files.len(),
            Candidates::Pack(p) => packs[*p].len(),
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(
            seed ^ ((i as u64 + 1) * 0x9E37_79B9),
        ));
        let budget = hours.map(|h| h * 3600.0 / sources.len() as f64);
        let mut total = 0.0;
        let mut skipped = 0usize;
        for idx in order {
            if budget.is_some_and(|b| total >= b) {
                break;
            }
            let (utterance, seconds) = match &candidates {
                Candidates::Files(files) => (
                    Utterance::File(files[idx].clone()),
                    duration_seconds(&files[idx]),
                ),
                Candidates::Pack(p) => (
                    Utterance::Packed {
                        pack: *p,
                        entry: idx,
                    },
                    packs[*p].speech()?.1[idx]
                        .seconds
                        .context("its audio was unreadable when it was packed"),
                ),
            };
            match seconds {
                Ok(s) => {
                    total += s;
                    drawn.push((src.language.clone(), utterance, s));
                }
                Err(e) => {
                    skipped += 1;
                    let name = match &candidates {
                        Candidates::Files(files) => files[idx].display().to_string(),
                        Candidates::Pack(p) => format!(
                            "{} in {}",
                            packs[*p].header().corpus.name(idx),
                            src.dir.display()
                        ),
                    };
                    eprintln!("warning: {name}: skipped: {e:#}");
                }
            }
        }
        if let Some(b) = budget
            && total < b * 0.999
        {
            eprintln!(
                "warning: {}: only {:.2} h of the {:.2} h asked for",
                src.dir.display(),
                total / 3600.0,
                b / 3600.0
            );
        }
        eprintln!(
            "speech {}: {} files, {:.2} h{}",
            src.language,
            drawn.iter().filter(|d| d.0 == src.language).count(),
            total / 3600.0,
            if skipped > 0 {
                format!(", {skipped} unreadable skipped")
            } else {
                String::new()
            }
        );
    }
    Ok(SpeechDraw { drawn, packs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_source_syntax() {
        let s: SpeechSource = "man=/data/aishell".parse().unwrap();
        assert_eq!(s.language, "man");
        assert_eq!(s.dir, PathBuf::from("/data/aishell"));
        let s: SpeechSource = "/data/librispeech".parse().unwrap();
        assert_eq!(s.language, "librispeech");
    }
}
