//! The on-disk feature cache (log-mel patches computed once per file, on every core) and
//! the progress bars of long steps.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mer::{FeatureExtractor, Patches};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::io;

/// Log-mel patches computed once per file and kept on disk, keyed by the feature recipe
/// and the file's path, size and modification time: a changed file or recipe is recomputed.
pub struct FeatureCache {
    dir: PathBuf,
    extractor: FeatureExtractor,
    recipe_json: String,
}

const CACHE_MAGIC: &[u8; 8] = b"MERPATCH";

impl FeatureCache {
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the feature cache", dir.display()))?;
        let extractor = FeatureExtractor::default();
        let recipe_json = serde_json::to_string(extractor.recipe())?;
        Ok(Self {
            dir: dir.to_path_buf(),
            extractor,
            recipe_json,
        })
    }

    fn key(&self, path: &Path) -> Result<PathBuf> {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let mut h = Sha256::new();
        h.update(self.recipe_json.as_bytes());
        h.update(abs.to_string_lossy().as_bytes());
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
        let digest = h.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Ok(self.dir.join(format!("{hex}.patches")))
    }

    fn read(&self, file: &Path) -> Option<Patches> {
        let bytes = std::fs::read(file).ok()?;
        if bytes.len() < 16 || &bytes[..8] != CACHE_MAGIC {
            return None;
        }
        let n = usize::try_from(u64::from_le_bytes(bytes[8..16].try_into().ok()?)).ok()?;
        let r = self.extractor.recipe();
        let per = r.n_mels * r.patch_frames;
        // A damaged count may overflow: such a file is not a cache entry (recomputed).
        let expected = n.checked_mul(per * 4).and_then(|b| b.checked_add(16))?;
        if bytes.len() != expected {
            return None;
        }
        let data = bytes[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Some(Patches {
            n,
            n_mels: r.n_mels,
            frames: r.patch_frames,
            data,
        })
    }

    fn write(&self, file: &Path, p: &Patches) -> Result<()> {
        let mut bytes = Vec::with_capacity(16 + p.data.len() * 4);
        bytes.extend_from_slice(CACHE_MAGIC);
        bytes.extend_from_slice(&(p.n as u64).to_le_bytes());
        for x in &p.data {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        io::write_atomic(file, &bytes)
    }

    /// The patches of one file, from the cache or computed (and then cached).
    pub fn patches(&self, path: &Path) -> Result<Patches> {
        let key = self.key(path)?;
        if let Some(p) = self.read(&key) {
            return Ok(p);
        }
        let samples = io::load_samples(path, self.extractor.recipe())?;
        let p = self.extractor.patches(&samples);
        if p.data.iter().any(|x| !x.is_finite()) {
            bail!("non-finite features");
        }
        self.write(&key, &p)?;
        Ok(p)
    }

    /// The patches of many files, on every core, with a progress bar. Failures are returned
    /// per file, never abort the batch.
    pub fn patches_many(&self, paths: &[PathBuf], what: &str) -> Vec<Result<Patches>> {
        let pb = progress_bar(paths.len() as u64, &format!("features: {what}"));
        let out: Vec<Result<Patches>> = paths
            .par_iter()
            .map(|p| {
                let r = self.patches(p);
                pb.inc(1);
                r
            })
            .collect();
        pb.finish_and_clear();
        out
    }
}

/// A progress bar with ETA on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {bar:30} {pos}/{len} (ETA {eta}) {per_sec}",
        )
        .expect("valid template"),
    );
    pb.set_message(msg.to_string());
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_cache_entry_is_recomputed_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path()).unwrap();
        let entry = dir.path().join("x.patches");
        // Counts whose byte size overflows, or disagrees with the file's length.
        for n in [u64::MAX, u64::MAX / 4 + 1, 1 << 62, 3] {
            let mut bytes = CACHE_MAGIC.to_vec();
            bytes.extend_from_slice(&n.to_le_bytes());
            bytes.extend_from_slice(&[0u8; 64]);
            std::fs::write(&entry, &bytes).unwrap();
            assert!(cache.read(&entry).is_none(), "count {n} accepted");
        }
        // A sound entry reads back.
        let per = mer::model::PATCH_VALUES;
        let mut bytes = CACHE_MAGIC.to_vec();
        bytes.extend_from_slice(&2u64.to_le_bytes());
        bytes.extend(std::iter::repeat_n(0u8, 2 * per * 4));
        std::fs::write(&entry, &bytes).unwrap();
        assert_eq!(cache.read(&entry).unwrap().n, 2);
    }
}
