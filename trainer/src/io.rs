//! File input and output for the CLI: reading audio with clear one-line errors, and writing
//! files atomically (a temporary file in the same folder, then a rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mer::audio::{self, Audio};

/// Reads and decodes an audio file; errors name the problem (the caller names the file).
pub fn read_audio(path: &Path) -> Result<Audio> {
    let bytes = read_file(path)?;
    let ext = path.extension().and_then(|e| e.to_str());
    Ok(audio::decode(&bytes, ext)?)
}

/// Reads a whole file, with a plain message for the usual mistakes.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("no such file"),
        Err(e) => bail!("cannot read: {e}"),
        Ok(m) if m.is_dir() => bail!("is a directory, not a file"),
        Ok(_) => {}
    }
    std::fs::read(path).context("cannot read")
}

/// Reads a model file (.mer); errors name the file.
pub fn load_model(path: &Path) -> Result<mer::ModelFile> {
    let bytes = read_file(path).with_context(|| format!("{}", path.display()))?;
    mer::ModelFile::from_bytes(&bytes).with_context(|| format!("{}", path.display()))
}

/// Decodes, mixes, resamples and normalises a file as the recipe says.
pub fn load_samples(path: &Path, recipe: &mer::FeatureRecipe) -> Result<Vec<f32>> {
    let audio = read_audio(path)?;
    Ok(audio::prepare(&audio, recipe.sample_rate)?)
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes).map_err(Into::into))
}

/// A temporary file's path in `path`'s folder (`.NAME.TAGPID`), so that renaming it onto
/// `path` is atomic. Fails when the folder does not exist.
pub fn temp_beside(path: &Path, tag: &str) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!("folder {} does not exist", dir.display());
    }
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    Ok(dir.join(format!(
        ".{}.{tag}{}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// Like [`write_atomic`], with a writer callback.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>,
) -> Result<()> {
    let tmp = temp_beside(path, "tmp")?;
    let result = (|| {
        let file = std::fs::File::create(&tmp).context("cannot create a temporary file")?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path).context("cannot rename the temporary file")?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes patches as a float32 .npy array of shape (N, 1, n_mels, frames).
pub fn write_npy(path: &Path, patches: &mer::Patches) -> Result<()> {
    if patches.data.iter().any(|x| !x.is_finite()) {
        bail!("the features hold a non-finite value; nothing written");
    }
    let shape: Vec<u64> = patches.shape().iter().map(|&x| x as u64).collect();
    write_atomic_with(path, |w| {
        use npyz::WriterBuilder;
        let mut npy = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(w)
            .begin_nd()?;
        npy.extend(patches.data.iter().copied())?;
        npy.finish()?;
        Ok(())
    })
}
