//! The feature pack (`.merfeat`): a whole corpus's log-mel frames in one portable,
//! checksummed file, so that a run trains without the audio (and, for music, without the
//! CSV). `trainer pack` writes one; `pretrain --speech`, `transfer --music`, `evaluate
//! --music` and `baselines --music` read one in place of a folder or CSV (recognised by its
//! magic, whatever its name). This module is the one owner of the layout.
//!
//! Layout (all integers little-endian):
//! ```text
//! b"MERFEAT\0"        8 bytes  magic
//! format_version      u32      FORMAT_VERSION
//! header_len          u32
//! header              header_len bytes of JSON (PackHeader): the feature recipe, and the
//!                     corpus, speech or music:
//!                       speech: its language; per file its name (path relative to the
//!                         folder), its frame count and its seconds as the draw measures
//!                         them (none when unreadable: never drawn, as from the folder)
//!                       music: its name, the arousal/valence midpoint its labels were made
//!                         with; per song its frame count and `data::Song` (the labels that
//!                         `read_music` made, the name as the CSV writes it, the path
//!                         relative to the CSV's folder)
//! frames              every entry's frames in the header's order: frames x n_mels values,
//!                     IEEE half precision, mel-major as in `mer::LogMel` (m * frames + t)
//! sha256              32 bytes over everything above
//! ```
//! An entry keeps the frames its patches cover, `(n - 1) * patch_hop + patch_frames` for
//! `n` patches (none when shorter than one patch): the few trailing frames that no patch
//! reaches are never read by training. Patches are cut from the stored frames by
//! `FeatureExtractor::patches_of`, as from computed ones, so they equal the extractor's
//! patches of the same audio up to f16 rounding (relative error at most 2^-11; log-mel
//! values lie within about ±16, so at most 2^-7 = 0.008 in absolute terms).
//!
//! Reading checks the magic, the version, the checksum (before anything else is trusted),
//! that the recipe is the one this build computes, and that the frame counts add up to the
//! file's length exactly, before any frame is read: a damaged or hostile file is refused
//! with one line, never a panic or an allocation larger than the file.
//!
//! Sizes, measured on the corpora of `trainer corpus demo`: the pack's file against the f32
//! patch cache of the same files ([`super::FeatureCache`]: 16 + patches x 128 x 31 x 4
//! bytes per file, summed over each entry's patch count). Half the difference is f16
//! against f32, the rest the patches' overlap (31 frames every 15), less the header:
//!
//! | corpus | entries | audio | pack (header) | f32 patch cache | ratio |
//! |---|---|---|---|---|---|
//! | speech/eng, every file (340 MB of 16 kHz WAV) | 1374 | 3.06 h | 85.3 MB (127 kB) | 331.8 MB | 3.89 |
//! | music/shipped.csv (30-s clips, 22.05 kHz) | 856 | 7.04 h | 202.9 MB (192 kB) | 823.2 MB | 4.06 |
//!
//! Packing speech/eng took 1.4 s from a full feature cache and 4.2 s from the WAVs (2
//! cores), the same bytes either way; `baselines` loads music/shipped.csv in 2.7 s from
//! the pack, 2.4 s from the cache.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use half::f16;
use mer::{FeatureExtractor, FeatureRecipe, LogMel, Patches};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Song;
use crate::io;

pub const MAGIC: &[u8; 8] = b"MERFEAT\0";
/// Bumped whenever the layout or the header's schema changes.
pub const FORMAT_VERSION: u32 = 1;
/// The usual file name extension (not required: a pack is known by its magic).
pub const EXTENSION: &str = "merfeat";

/// Magic, version and header length.
const PREFIX: u64 = 16;
const CHECKSUM: u64 = 32;
/// Bytes per stored value (f16).
const VALUE_BYTES: u64 = 2;

/// What a pack holds besides its frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackHeader {
    pub recipe: FeatureRecipe,
    pub corpus: Corpus,
}

/// A speech folder or a music set, entry by entry in the order of the frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Corpus {
    Speech {
        language: String,
        files: Vec<SpeechEntry>,
    },
    Music {
        /// The set's name in model files (the CSV's folder name unless given).
        name: String,
        /// The midpoint of continuous ratings the labels were made with.
        av_midpoint: f64,
        songs: Vec<MusicEntry>,
    },
}

impl Corpus {
    /// "speech" or "music".
    pub fn kind(&self) -> &'static str {
        match self {
            Corpus::Speech { .. } => "speech",
            Corpus::Music { .. } => "music",
        }
    }

    /// The frame count of every entry, in order.
    fn frames(&self) -> Vec<usize> {
        match self {
            Corpus::Speech { files, .. } => files.iter().map(|f| f.frames).collect(),
            Corpus::Music { songs, .. } => songs.iter().map(|s| s.frames).collect(),
        }
    }

    /// The name of entry `i` (as the folder or the CSV names it).
    pub fn name(&self, i: usize) -> &str {
        match self {
            Corpus::Speech { files, .. } => &files[i].name,
            Corpus::Music { songs, .. } => &songs[i].song.name,
        }
    }
}

/// A speech file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechEntry {
    /// Its path relative to the speech folder, `/`-separated.
    pub name: String,
    pub frames: usize,
    /// Its duration as `data::duration_seconds` measures it; none when its header was
    /// unreadable.
    pub seconds: Option<f64>,
}

/// A song with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MusicEntry {
    pub frames: usize,
    pub song: Song,
}

/// A pack as a run's configuration records it: where it was and its checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackRef {
    pub path: PathBuf,
    /// The SHA-256 the pack ends with (of everything before it), in hex.
    pub sha256: String,
}

impl PackRef {
    /// The pack at `path` as a run records it; none for anything else (a folder, a CSV).
    pub fn of(path: &Path) -> Result<Option<Self>> {
        if !is_pack(path) {
            return Ok(None);
        }
        let mut f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let len = f.metadata()?.len();
        ensure!(
            len >= PREFIX + CHECKSUM,
            "{}: truncated feature pack ({len} bytes)",
            path.display()
        );
        let mut sum = [0u8; CHECKSUM as usize];
        f.seek(SeekFrom::Start(len - CHECKSUM))?;
        f.read_exact(&mut sum)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        Ok(Some(Self {
            path: path.to_path_buf(),
            sha256: hex(&sum),
        }))
    }

    /// Refuses a pack that is no longer the one recorded.
    pub fn check(&self) -> Result<()> {
        match Self::of(&self.path)? {
            Some(now) if now.sha256 == self.sha256 => Ok(()),
            Some(now) => bail!(
                "{}: not the feature pack this run was trained on (its SHA-256 is {}, the \
                 run recorded {})",
                self.path.display(),
                now.sha256,
                self.sha256
            ),
            None => bail!(
                "{}: no longer a feature pack (the run recorded one with SHA-256 {})",
                self.path.display(),
                self.sha256
            ),
        }
    }
}

/// Whether `path` is a file that starts with a pack's magic.
pub fn is_pack(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    path.is_file()
        && File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && &magic == MAGIC
}

/// What a pack holds, read from its header without reading (or checking) the frames: for
/// what a command line needs before it opens the pack (its language, name, midpoint).
/// Lengths are bounded by the file's.
pub fn peek(path: &Path) -> Result<Corpus> {
    let f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let len = f.metadata()?.len();
    let mut r = BufReader::new(f);
    read_prefix(&mut r, len)
        .and_then(|header_len| fits(header_len, len))
        .and_then(|header_len| read_header(&mut r, header_len))
        .map(|h| h.corpus)
        .with_context(|| path.display().to_string())
}

/// Checks magic and version; returns the header's length as written.
fn read_prefix(r: &mut impl Read, len: u64) -> Result<u64> {
    let mut magic = [0u8; 8];
    if len < 8 || r.read_exact(&mut magic).is_err() || &magic != MAGIC {
        bail!("not a feature pack (it does not start with MERFEAT; `trainer pack` makes one)");
    }
    ensure!(
        len >= PREFIX + CHECKSUM,
        "truncated feature pack ({len} bytes)"
    );
    let version = read_u32(r)?;
    ensure!(
        version == FORMAT_VERSION,
        "feature pack format version {version}; this trainer reads version {FORMAT_VERSION}"
    );
    Ok(u64::from(read_u32(r)?))
}

/// A header's length, refused unless it fits in the file.
fn fits(header_len: u64, len: u64) -> Result<u64> {
    ensure!(
        header_len <= len - PREFIX - CHECKSUM,
        "a header of {header_len} bytes does not fit in the file's {len}"
    );
    Ok(header_len)
}

fn read_u32(r: &mut impl Read) -> Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).context("truncated feature pack")?;
    Ok(u32::from_le_bytes(b))
}

/// A header as read: its recipe kept as JSON, so that every field of it is compared, even
/// one this build does not know.
#[derive(Deserialize)]
struct RawHeader {
    recipe: serde_json::Value,
    corpus: Corpus,
}

/// The header's JSON (its length already bounded by the file's).
fn read_header(r: &mut impl Read, header_len: u64) -> Result<RawHeader> {
    let mut bytes = vec![0u8; usize::try_from(header_len)?];
    r.read_exact(&mut bytes).context("truncated feature pack")?;
    serde_json::from_slice(&bytes).context("unreadable feature pack header")
}

/// What differs between a pack's recipe and this build's, e.g. `n_mels 64 (this build:
/// 128)`; empty when they are equal.
fn recipe_difference(theirs: &serde_json::Value, ours: &FeatureRecipe) -> String {
    let ours = serde_json::to_value(ours).unwrap_or_default();
    let none = serde_json::Map::new();
    let a = theirs.as_object();
    let (a, b) = (a.unwrap_or(&none), ours.as_object().unwrap_or(&none));
    if theirs.as_object().is_none() {
        return format!("recipe {theirs}");
    }
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&serde_json::Value>| v.map_or("none".into(), |v| v.to_string());
            format!("{k} {} (this build: {})", show(a.get(k)), show(b.get(k)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An opened, checked pack: its header, and each entry's frames and patches on demand.
pub struct FeaturePack<R = BufReader<File>> {
    /// The file's name in errors.
    name: String,
    header: PackHeader,
    checksum: [u8; 32],
    reader: R,
    /// Where each entry's frames start, and where the last ends.
    offsets: Vec<u64>,
    extractor: FeatureExtractor,
}

impl FeaturePack {
    /// Opens and checks the pack at `path` (magic, version, checksum, recipe, lengths).
    /// Errors name the file.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let file = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => bail!("{name}: a folder, not a feature pack"),
            _ => File::open(path).with_context(|| format!("{name}: cannot open"))?,
        };
        let len = file.metadata()?.len();
        FeaturePack::from_reader(BufReader::new(file), len, &name)
    }
}

impl<R: Read + Seek> FeaturePack<R> {
    /// Reads and checks a pack of `len` bytes from `reader` (`name` names it in errors).
    pub fn from_reader(mut reader: R, len: u64, name: &str) -> Result<Self> {
        let checked = (|| {
            let header_len = read_prefix(&mut reader, len)?;
            // The checksum first: nothing else in the file is trusted before it.
            reader.seek(SeekFrom::Start(0))?;
            let mut h = Sha256::new();
            let copied = std::io::copy(
                &mut (&mut reader).take(len - CHECKSUM),
                &mut HashSink(&mut h),
            )?;
            ensure!(copied == len - CHECKSUM, "truncated feature pack");
            let mut checksum = [0u8; 32];
            reader.read_exact(&mut checksum)?;
            if h.finalize()[..] != checksum {
                bail!(
                    "checksum mismatch: the feature pack is damaged or truncated (its \
                     SHA-256 does not match the one it ends with)"
                );
            }
            let header_len = fits(header_len, len)?;
            reader.seek(SeekFrom::Start(PREFIX))?;
            let raw = read_header(&mut reader, header_len)?;
            let extractor = FeatureExtractor::default();
            let diff = recipe_difference(&raw.recipe, extractor.recipe());
            ensure!(
                diff.is_empty(),
                "made with another feature recipe: {diff}; pack the corpus again with this \
                 trainer"
            );
            let header = PackHeader {
                recipe: extractor.recipe().clone(),
                corpus: raw.corpus,
            };
            // Every length checked against the file's before a frame is read.
            let per_frame = extractor.recipe().n_mels as u64 * VALUE_BYTES;
            let mut offsets = vec![PREFIX + header_len];
            let mut end = PREFIX + header_len;
            for (i, frames) in header.corpus.frames().into_iter().enumerate() {
                end = u64::try_from(frames)
                    .ok()
                    .and_then(|f| f.checked_mul(per_frame))
                    .and_then(|b| b.checked_add(end))
                    .filter(|&e| e <= len - CHECKSUM)
                    .with_context(|| {
                        format!(
                            "entry {} ({:?}) claims {frames} frames, more than the file holds",
                            i + 1,
                            header.corpus.name(i)
                        )
                    })?;
                offsets.push(end);
            }
            ensure!(
                end == len - CHECKSUM,
                "the header's frame counts account for {} bytes of frames, the file holds {}",
                end - offsets[0],
                len - CHECKSUM - offsets[0]
            );
            Ok((header, checksum, offsets, extractor))
        })();
        let (header, checksum, offsets, extractor) = checked.with_context(|| name.to_string())?;
        Ok(Self {
            name: name.to_string(),
            header,
            checksum,
            reader,
            offsets,
            extractor,
        })
    }

    pub fn header(&self) -> &PackHeader {
        &self.header
    }

    /// The SHA-256 the pack ends with (checked against its content when opened), in hex.
    pub fn sha256(&self) -> String {
        hex(&self.checksum)
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its language and files; an error naming the pack when it holds music.
    pub fn speech(&self) -> Result<(&str, &[SpeechEntry])> {
        match &self.header.corpus {
            Corpus::Speech { language, files } => Ok((language, files)),
            Corpus::Music { .. } => bail!(
                "{}: a feature pack of music, not of speech (give it to --music)",
                self.name
            ),
        }
    }

    /// Its name, midpoint and songs; an error naming the pack when it holds speech.
    pub fn music(&self) -> Result<(&str, f64, &[MusicEntry])> {
        match &self.header.corpus {
            Corpus::Music {
                name,
                av_midpoint,
                songs,
            } => Ok((name, *av_midpoint, songs)),
            Corpus::Speech { .. } => bail!(
                "{}: a feature pack of speech, not of music (give it to pretrain --speech)",
                self.name
            ),
        }
    }

    /// The stored log-mel frames of entry `i`.
    pub fn log_mel(&mut self, i: usize) -> Result<LogMel> {
        let (start, end) = (self.offsets[i], self.offsets[i + 1]);
        let n_mels = self.extractor.recipe().n_mels;
        let mut bytes = vec![0u8; usize::try_from(end - start)?];
        self.reader.seek(SeekFrom::Start(start))?;
        self.reader
            .read_exact(&mut bytes)
            .with_context(|| format!("{}: cannot read", self.name))?;
        let data: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        if data.iter().any(|x| !x.is_finite()) {
            bail!(
                "{}: entry {:?} holds a non-finite value",
                self.name,
                self.header.corpus.name(i)
            );
        }
        Ok(LogMel {
            n_mels,
            n_frames: data.len() / n_mels,
            data,
        })
    }

    /// The patches of entry `i`, cut from its frames as the extractor cuts computed ones.
    pub fn patches(&mut self, i: usize) -> Result<Patches> {
        let mel = self.log_mel(i)?;
        Ok(self.extractor.patches_of(&mel))
    }
}

/// A `Write` that only hashes.
struct HashSink<'a>(&'a mut Sha256);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `Write` that hashes what it passes on.
struct Hashing<'a, W: Write> {
    inner: &'a mut W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The number of frames the recipe's patches cover in `n_frames` frames.
pub fn covered_frames(recipe: &FeatureRecipe, n_frames: usize) -> usize {
    match recipe.patches(n_frames) {
        0 => 0,
        n => (n - 1) * recipe.patch_hop + recipe.patch_frames,
    }
}

/// The frames that `patches` were cut from (those they cover): patch p of
/// `FeatureExtractor::patches_of` holds frames `p * patch_hop ..` of every band. None when
/// the recipe leaves frames between patches (a hop longer than a patch).
pub fn frames_of_patches(recipe: &FeatureRecipe, p: &Patches) -> Option<LogMel> {
    if recipe.patch_hop > recipe.patch_frames || p.frames != recipe.patch_frames {
        return None;
    }
    let n_frames = match p.n {
        0 => 0,
        n => (n - 1) * recipe.patch_hop + p.frames,
    };
    let mut data = vec![0f32; p.n_mels * n_frames];
    for i in 0..p.n {
        let patch = p.patch(i);
        for m in 0..p.n_mels {
            let dst = m * n_frames + i * recipe.patch_hop;
            data[dst..dst + p.frames].copy_from_slice(&patch[m * p.frames..(m + 1) * p.frames]);
        }
    }
    Some(LogMel {
        n_mels: p.n_mels,
        n_frames,
        data,
    })
}

/// Writes a pack: frames entry by entry into a temporary file beside it (so a large corpus
/// is never held in memory), then the whole pack atomically ([`io::write_atomic_with`]).
pub struct PackWriter {
    out: PathBuf,
    recipe: FeatureRecipe,
    frames_path: PathBuf,
    frames_file: Option<BufWriter<File>>,
    /// Frames written per entry.
    written: Vec<usize>,
}

/// What [`PackWriter::finish`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
}

impl PackWriter {
    pub fn create(out: &Path, recipe: &FeatureRecipe) -> Result<Self> {
        let frames_path = io::temp_beside(out, "frames.tmp")?;
        let file = File::create(&frames_path)
            .with_context(|| format!("{}: cannot create", frames_path.display()))?;
        Ok(Self {
            out: out.to_path_buf(),
            recipe: recipe.clone(),
            frames_path,
            frames_file: Some(BufWriter::new(file)),
            written: Vec::new(),
        })
    }

    /// Appends the next entry: the frames of `mel` that the recipe's patches cover (none
    /// for `None`, an entry without features). Returns how many frames it stored.
    pub fn push(&mut self, mel: Option<&LogMel>) -> Result<usize> {
        let Some(mel) = mel else {
            self.written.push(0);
            return Ok(0);
        };
        ensure!(
            mel.n_mels == self.recipe.n_mels && mel.data.len() == mel.n_mels * mel.n_frames,
            "log-mel of {} bands, the recipe has {}",
            mel.n_mels,
            self.recipe.n_mels
        );
        let frames = covered_frames(&self.recipe, mel.n_frames);
        let mut bytes = Vec::with_capacity(mel.n_mels * frames * 2);
        for row in mel.data.chunks_exact(mel.n_frames.max(1)).take(mel.n_mels) {
            for &x in &row[..frames] {
                let h = f16::from_f32(x);
                ensure!(
                    h.is_finite(),
                    "a log-mel value ({x}) that half precision cannot hold"
                );
                bytes.extend_from_slice(&h.to_le_bytes());
            }
        }
        let file = self.frames_file.as_mut().context("pack already finished")?;
        file.write_all(&bytes)?;
        self.written.push(frames);
        Ok(frames)
    }

    /// Writes the pack: `corpus` must list the entries pushed, in order, with the frame
    /// counts `push` returned.
    pub fn finish(mut self, corpus: Corpus) -> Result<Written> {
        ensure!(
            corpus.frames() == self.written,
            "the corpus lists other entries than were written"
        );
        let file = self.frames_file.take().context("pack already finished")?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let header = serde_json::to_vec(&PackHeader {
            recipe: self.recipe.clone(),
            corpus,
        })?;
        let header_len = u32::try_from(header.len()).context("header too large")?;
        let mut frames = BufReader::new(File::open(&self.frames_path)?);
        let mut sha256 = String::new();
        io::write_atomic_with(&self.out, |w| {
            let mut h = Hashing {
                inner: w,
                hash: Sha256::new(),
            };
            h.write_all(MAGIC)?;
            h.write_all(&FORMAT_VERSION.to_le_bytes())?;
            h.write_all(&header_len.to_le_bytes())?;
            h.write_all(&header)?;
            std::io::copy(&mut frames, &mut h)?;
            let sum = h.hash.finalize();
            w.write_all(&sum)?;
            sha256 = hex(&sum);
            Ok(())
        })
        .with_context(|| format!("{}: cannot write", self.out.display()))?;
        let bytes = std::fs::metadata(&self.out)?.len();
        Ok(Written { bytes, sha256 })
    }
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.frames_path);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use mer::Quadrant;

    use super::*;

    /// Two seconds of a chord with noise and a silent gap, at 16 kHz.
    fn audio(seconds: f32, seed: u32) -> Vec<f32> {
        let mut r = seed;
        (0..(seconds * 16_000.0) as usize)
            .map(|i| {
                r = r.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let t = i as f32 / 16_000.0;
                let noise = (r >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                let gap = if (t * 2.0) as u32 % 3 == 2 { 0.0 } else { 1.0 };
                gap * (0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                    + 0.2 * (2.0 * std::f32::consts::PI * 1375.0 * t).sin())
                    + 0.02 * noise
            })
            .collect()
    }

    fn song(name: &str) -> Song {
        let mapping = crate::data::AvMapping { midpoint: 0.0 };
        let mut s = Song::from_ratings(name.into(), name.into(), [0.4, -0.2], mapping);
        s.dynamic = vec![[15.0, 0.1, f64::NAN], [15.5, f64::NAN, -0.3]];
        s
    }

    /// A pack of `clips` written to a temporary folder, as bytes.
    fn pack_bytes(corpus_of: impl Fn(Vec<usize>) -> Corpus, clips: &[Vec<f32>]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("p.merfeat");
        let fx = FeatureExtractor::default();
        let mut w = PackWriter::create(&out, fx.recipe()).unwrap();
        let frames: Vec<usize> = clips
            .iter()
            .map(|c| w.push(Some(&fx.log_mel(c))).unwrap())
            .collect();
        let written = w.finish(corpus_of(frames)).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(written.bytes, bytes.len() as u64);
        assert_eq!(written.sha256, hex(&bytes[bytes.len() - 32..]));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        bytes
    }

    fn speech(frames: Vec<usize>) -> Corpus {
        Corpus::Speech {
            language: "eng".into(),
            files: frames
                .into_iter()
                .enumerate()
                .map(|(i, frames)| SpeechEntry {
                    name: format!("spk/utt{i}.flac"),
                    frames,
                    seconds: (i != 1).then_some(2.0),
                })
                .collect(),
        }
    }

    fn music(frames: Vec<usize>) -> Corpus {
        Corpus::Music {
            name: "set".into(),
            av_midpoint: 0.0,
            songs: frames
                .into_iter()
                .enumerate()
                .map(|(i, frames)| MusicEntry {
                    frames,
                    song: song(&format!("audio/{i}.wav")),
                })
                .collect(),
        }
    }

    fn open(bytes: &[u8]) -> Result<FeaturePack<Cursor<&[u8]>>> {
        FeaturePack::from_reader(Cursor::new(bytes), bytes.len() as u64, "p.merfeat")
    }

    /// A pack with `header` and `frames` bytes, its checksum right: what a hostile writer
    /// makes.
    fn forge(version: u32, header_len: Option<u32>, header: &[u8], frames: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&version.to_le_bytes());
        let len = header_len.unwrap_or(header.len() as u32);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(header);
        b.extend_from_slice(frames);
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum);
        b
    }

    fn header_json(corpus: Corpus) -> Vec<u8> {
        serde_json::to_vec(&PackHeader {
            recipe: FeatureRecipe::default(),
            corpus,
        })
        .unwrap()
    }

    fn error(bytes: &[u8]) -> String {
        match open(bytes) {
            Ok(_) => panic!("accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn patches_from_a_pack_are_the_extractors_up_to_f16_rounding() {
        let fx = FeatureExtractor::default();
        // 2.3 s (71 frames, 3 patches, 61 covered), a clip shorter than a patch, 4 s.
        let clips = vec![audio(2.3, 1), audio(0.5, 2), audio(4.0, 3)];
        let bytes = pack_bytes(speech, &clips);
        let mut pack = open(&bytes).unwrap();
        assert_eq!(pack.len(), 3);
        let (language, files) = pack.speech().unwrap();
        assert_eq!(language, "eng");
        assert_eq!(
            files.iter().map(|f| f.frames).collect::<Vec<_>>(),
            [61, 0, 121]
        );
        assert_eq!(files[1].seconds, None);
        let mut worst = 0f32;
        for (i, clip) in clips.iter().enumerate() {
            let want = fx.patches(clip);
            let got = pack.patches(i).unwrap();
            assert_eq!(got.shape(), want.shape(), "entry {i}");
            for (a, b) in want.data.iter().zip(&got.data) {
                // f16 rounds to nearest: half a unit in the last place, at most 2^-11 of
                // the value among normal numbers, 2^-25 among the subnormal ones.
                let bound = (a.abs() * 2f32.powi(-11)).max(2f32.powi(-25));
                assert!((a - b).abs() <= bound, "{a} stored as {b}");
                worst = worst.max((a - b).abs());
            }
        }
        // Log-mel values lie within ±16 (ln of f32's epsilon is -15.9): 2^-7 at most.
        assert!(worst > 0.0 && worst <= 2f32.powi(-7), "worst {worst}");
        assert!(
            bytes.len() < 2 * 128 * (61 + 121) + 2048,
            "{} bytes",
            bytes.len()
        );
    }

    #[test]
    fn a_music_pack_keeps_every_label() {
        let bytes = pack_bytes(music, &[audio(1.5, 4), audio(1.2, 5)]);
        let pack = open(&bytes).unwrap();
        let (name, midpoint, songs) = pack.music().unwrap();
        assert_eq!((name, midpoint), ("set", 0.0));
        let s = &songs[1].song;
        assert_eq!(s.name, "audio/1.wav");
        assert_eq!(s.quadrant, Quadrant::from_signs(true, false));
        assert_eq!(s.ratings, Some([0.4, -0.2]));
        let (want, got) = (song("audio/1.wav").dynamic, &s.dynamic);
        assert_eq!(want.len(), got.len());
        for (a, b) in want.iter().flatten().zip(got.iter().flatten()) {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{a} read as {b}");
        }
        // The wrong kind is named.
        let e = format!("{:#}", pack.speech().unwrap_err());
        assert!(
            e.contains("p.merfeat") && e.contains("of music, not of speech"),
            "{e}"
        );
        let speech_pack = pack_bytes(speech, &[audio(1.2, 5)]);
        let e = format!("{:#}", open(&speech_pack).unwrap().music().unwrap_err());
        assert!(e.contains("of speech, not of music"), "{e}");
    }

    #[test]
    fn stored_frames_give_back_the_cached_patches_exactly() {
        let fx = FeatureExtractor::default();
        for seconds in [0.5, 0.96, 1.0, 2.3, 3.7] {
            let p = fx.patches(&audio(seconds, 6));
            let mel = frames_of_patches(fx.recipe(), &p).unwrap();
            assert_eq!(mel.n_frames, covered_frames(fx.recipe(), mel.n_frames));
            let again = fx.patches_of(&mel);
            assert_eq!((again.n, &again.data), (p.n, &p.data), "{seconds} s");
        }
    }

    #[test]
    fn truncated_or_flipped_packs_are_refused() {
        let bytes = pack_bytes(speech, &[audio(1.2, 7), audio(1.1, 8)]);
        for cut in 0..bytes.len() {
            let e = error(&bytes[..cut]);
            assert!(e.starts_with("p.merfeat: "), "{e}");
            if cut >= 48 {
                assert!(e.contains("checksum"), "cut at {cut}: {e}");
            }
        }
        let positions = (0..bytes.len()).step_by(7).chain([bytes.len() - 1]);
        for i in positions {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            let e = error(&b);
            let expected = match i {
                0..8 => "not a feature pack",
                8..12 => "version",
                _ => "checksum mismatch",
            };
            assert!(e.contains(expected), "byte {i}: {e}");
        }
    }

    #[test]
    fn hostile_headers_are_refused_without_allocating_what_they_claim() {
        let ok_header = header_json(speech(vec![31]));
        let frames = vec![0u8; 31 * 128 * 2];
        assert!(open(&forge(1, None, &ok_header, &frames)).is_ok());
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (forge(2, None, &ok_header, &frames), "version 2"),
            (
                forge(1, Some(u32::MAX), &ok_header, &frames),
                "does not fit",
            ),
            (forge(1, None, b"{\"recipe\": [[[[", &frames), "header"),
            (
                forge(1, None, &[b'['; 5000], &frames),
                "unreadable feature pack header",
            ),
            (
                forge(1, None, &header_json(speech(vec![usize::MAX])), &frames),
                "claims",
            ),
            (
                forge(1, None, &header_json(speech(vec![1 << 40])), &frames),
                "claims",
            ),
            (
                forge(
                    1,
                    None,
                    &header_json(speech(vec![31, usize::MAX / 256 + 1])),
                    &frames,
                ),
                "claims",
            ),
            (
                forge(1, None, &header_json(speech(vec![30])), &frames),
                "account for",
            ),
            (
                forge(1, None, &header_json(speech(vec![])), &frames),
                "account for",
            ),
        ];
        for (bytes, expected) in cases {
            let e = error(&bytes);
            assert!(e.contains(expected), "expected {expected:?}: {e}");
        }
        // Another recipe: which fields differ, and what this build computes.
        let mut header: serde_json::Value = serde_json::from_slice(&ok_header).unwrap();
        header["recipe"]["n_mels"] = 64.into();
        header["recipe"]["patch_hop"] = 31.into();
        let e = error(&forge(
            1,
            None,
            &serde_json::to_vec(&header).unwrap(),
            &frames,
        ));
        assert!(
            e.contains("another feature recipe")
                && e.contains("n_mels 64 (this build: 128)")
                && e.contains("patch_hop 31 (this build: 15)"),
            "{e}"
        );
        // Frames out of f16's finite range are refused when read.
        let mut inf = frames.clone();
        inf[..2].copy_from_slice(&f16::INFINITY.to_le_bytes());
        let forged = forge(1, None, &ok_header, &inf);
        let mut pack = open(&forged).unwrap();
        let e = format!("{:#}", pack.patches(0).unwrap_err());
        assert!(e.contains("non-finite"), "{e}");
    }

    #[test]
    fn peek_and_reference_read_only_the_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.merfeat");
        std::fs::write(&path, pack_bytes(music, &[audio(1.2, 9)])).unwrap();
        assert!(is_pack(&path));
        assert!(!is_pack(dir.path()));
        assert_eq!(peek(&path).unwrap().kind(), "music");
        let r = PackRef::of(&path).unwrap().unwrap();
        assert_eq!(r.sha256, FeaturePack::open(&path).unwrap().sha256());
        r.check().unwrap();
        let mut other = std::fs::read(&path).unwrap();
        let last = other.len() - 1;
        other[last] ^= 1;
        std::fs::write(&path, &other).unwrap();
        let e = format!("{:#}", r.check().unwrap_err());
        assert!(
            e.contains("not the feature pack this run was trained on"),
            "{e}"
        );
        let csv = dir.path().join("a.csv");
        std::fs::write(&csv, "Songs,Quads\n").unwrap();
        assert!(PackRef::of(&csv).unwrap().is_none());
        let e = format!("{:#}", FeaturePack::open(&csv).err().unwrap());
        assert!(
            e.contains("a.csv") && e.contains("not a feature pack"),
            "{e}"
        );
    }
}
