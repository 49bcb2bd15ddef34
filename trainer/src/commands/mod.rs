//! The training commands (pretrain, transfer with its folds, export, evaluate, pack) and
//! what they share: the feature cache's place, a music set with its features, the training
//! devices.

mod export;
mod folds;
mod pack;
mod pretrain;
mod transfer;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use mer::Patches;

use crate::data::{self, AvMapping, FeatureCache, FeaturePack, Song};
use crate::train::{LoopOptions, PatchLabels, PatchSet};

pub use export::{evaluate, export};
pub use folds::{FoldMetric, FoldReport, transfer_folds};
pub use pack::{PackSummary, pack_music, pack_speech};
pub use pretrain::{PretrainConfig, PretrainMethod, load_encoder, pretrain};
pub use transfer::{TransferConfig, reuse_frozen_phase, transfer};

/// The name of a feature cache folder: beside a run folder, or in a grid's folder.
pub const FEATURE_CACHE: &str = "feature-cache";

/// Where features are cached unless `--cache` says otherwise: beside the run folder.
pub fn default_cache(out: &Path) -> PathBuf {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(FEATURE_CACHE)
}

/// Features of files through the cache; unreadable files are reported and left out.
fn features_of(cache: &FeatureCache, paths: &[PathBuf], what: &str) -> Vec<Option<Patches>> {
    let results = cache.patches_many(paths, what);
    let mut bad = 0;
    let out = results
        .into_iter()
        .zip(paths)
        .map(|(r, p)| match r {
            Ok(x) => Some(x),
            Err(e) => {
                bad += 1;
                eprintln!("warning: {}: {e:#}; skipped", p.display());
                None
            }
        })
        .collect();
    if bad > 0 {
        eprintln!("{what}: {bad} unreadable files skipped");
    }
    out
}

/// The loop options of a training command, on autodiff versions of the training devices
/// (the first holds the model, seeded).
fn loop_options(
    devices: &[Device],
    epochs: usize,
    batch: usize,
    seed: u64,
    epoch_samples: Option<usize>,
) -> Result<LoopOptions> {
    let devices: Vec<Device> = devices.iter().map(|d| d.clone().autodiff()).collect();
    devices.first().context("no training device")?.seed(seed);
    Ok(LoopOptions {
        epochs,
        batch,
        seed,
        epoch_samples,
        devices,
    })
}

/// A music set: songs with labels and features, songs without usable audio left out.
pub struct MusicSet {
    pub songs: Vec<Song>,
    pub patches: Vec<Patches>,
}

/// A music set: an annotation CSV or a corpus folder (features through the cache), or a
/// feature pack of one.
pub fn load_music(csv: &Path, mapping: AvMapping, cache: &FeatureCache) -> Result<MusicSet> {
    if data::is_pack(csv) {
        return packed_music(csv, mapping);
    }
    let songs = data::read_music(csv, mapping)?;
    let paths: Vec<PathBuf> = songs.iter().map(|s| s.path.clone()).collect();
    let feats = features_of(cache, &paths, &csv.display().to_string());
    music_set(songs, feats, csv, |song| song.path.display().to_string())
}

/// The music set of a feature pack, whose labels were made with `mapping`'s midpoint.
fn packed_music(path: &Path, mapping: AvMapping) -> Result<MusicSet> {
    let mut pack = FeaturePack::open(path)?;
    let (_, midpoint, songs) = pack.music()?;
    if midpoint != mapping.midpoint {
        bail!(
            "{}: its labels were made with the arousal/valence midpoint {midpoint}, not {}; \
             pack the music again with --av-midpoint {}",
            path.display(),
            mapping.midpoint,
            mapping.midpoint
        );
    }
    let songs: Vec<Song> = songs.iter().map(|e| e.song.clone()).collect();
    let patches = (0..songs.len())
        .map(|i| pack.patches(i).map(Some))
        .collect::<Result<Vec<_>>>()?;
    music_set(songs, patches, path, |song| {
        format!("{} in {}", song.name, path.display())
    })
}

/// The songs of `source` that have at least one patch, with their patches (none: the song
/// failed and was reported already); a song shorter than one patch is reported, named by
/// `describe`, and left out.
fn music_set(
    songs: Vec<Song>,
    patches: Vec<Option<Patches>>,
    source: &Path,
    describe: impl Fn(&Song) -> String,
) -> Result<MusicSet> {
    let (mut kept, mut kept_patches) = (Vec::new(), Vec::new());
    for (song, p) in songs.into_iter().zip(patches) {
        match p {
            Some(p) if p.n > 0 => {
                kept.push(song);
                kept_patches.push(p);
            }
            Some(_) => eprintln!(
                "warning: {}: shorter than one patch; skipped",
                describe(&song)
            ),
            None => {}
        }
    }
    if kept.is_empty() {
        bail!("{}: no song with usable audio", source.display());
    }
    Ok(MusicSet {
        songs: kept,
        patches: kept_patches,
    })
}

fn patch_set(music: &MusicSet, idx: &[usize]) -> (PatchSet, PatchLabels) {
    let mut labels = PatchLabels {
        quadrant: vec![],
        arousal: vec![],
        valence: vec![],
    };
    let mut files = Vec::new();
    for &i in idx {
        let s = &music.songs[i];
        let n = music.patches[i].n;
        labels
            .quadrant
            .extend(std::iter::repeat_n(s.quadrant.index(), n));
        labels
            .arousal
            .extend(std::iter::repeat_n(usize::from(s.arousal), n));
        labels
            .valence
            .extend(std::iter::repeat_n(usize::from(s.valence), n));
        files.push(music.patches[i].clone());
    }
    (PatchSet::new(files), labels)
}
