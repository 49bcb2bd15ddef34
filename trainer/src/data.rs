//! Corpora: speech folders, music annotation CSVs, the on-disk feature cache and the
//! song-level splits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mer::{FeatureExtractor, Patches, Quadrant};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// A speech corpus: a language code and a folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpeechSource {
    pub language: String,
    pub dir: PathBuf,
}

impl std::str::FromStr for SpeechSource {
    type Err = String;
    /// `LANG=DIR`, or `DIR` (the language is then the folder's name).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((lang, dir)) if !lang.is_empty() && !lang.contains('/') => Ok(Self {
                language: lang.to_string(),
                dir: PathBuf::from(dir),
            }),
            _ => {
                let dir = PathBuf::from(s);
                let language = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "speech".into());
                Ok(Self { language, dir })
            }
        }
    }
}

/// The files drawn from each speech corpus: a seeded random subset of `hours` in all,
/// split equally between the corpora (the paper's mixture), or everything.
pub fn draw_speech(
    sources: &[SpeechSource],
    hours: Option<f64>,
    seed: u64,
) -> Result<Vec<(String, PathBuf, f64)>> {
    let mut drawn = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let files = scan_audio(&src.dir)?;
        if files.is_empty() {
            bail!(
                "{}: no audio files ({})",
                src.dir.display(),
                AUDIO_EXTENSIONS.join(", ")
            );
        }
        let mut order: Vec<usize> = (0..files.len()).collect();
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
            let path = &files[idx];
            match duration_seconds(path) {
                Ok(s) => {
                    total += s;
                    drawn.push((src.language.clone(), path.clone(), s));
                }
                Err(e) => {
                    skipped += 1;
                    eprintln!("warning: {}: skipped: {e:#}", path.display());
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
    Ok(drawn)
}

/// A song of a music set, with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Song {
    pub path: PathBuf,
    /// The value of the `Songs` column, as written.
    pub name: String,
    pub quadrant: Quadrant,
    pub arousal: bool,
    pub valence: bool,
    /// Whether each label was made by people (the default), or by a model: a CSV's
    /// optional `ArousalSource` / `ValenceSource` column starting with `teacher`. Scores
    /// against people's labels leave the others out.
    pub arousal_by_people: bool,
    pub valence_by_people: bool,
    /// A teacher model's (energy, valence) in [0, 1], from optional `TeacherEnergy` and
    /// `TeacherValence` columns: reported beside the models, never trained on here.
    pub teacher: Option<[f64; 2]>,
    /// People's continuous ratings of the whole song, (arousal, valence) on the corpus's own
    /// scale, where the corpus has them: kept beside the quadrant made from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratings: Option<[f64; 2]>,
    /// People's ratings over time, where the corpus has them: (seconds from the start of
    /// the audio file, arousal, valence), sorted by time; NaN where one is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic: Vec<[f64; 3]>,
}

impl Song {
    /// A song labelled by people from continuous ratings around `mapping`'s midpoint.
    pub fn from_ratings(
        path: PathBuf,
        name: String,
        ratings: [f64; 2],
        mapping: AvMapping,
    ) -> Self {
        let (a, v) = (ratings[0] > mapping.midpoint, ratings[1] > mapping.midpoint);
        Self {
            path,
            name,
            quadrant: Quadrant::from_signs(a, v),
            arousal: a,
            valence: v,
            arousal_by_people: true,
            valence_by_people: true,
            teacher: None,
            ratings: Some(ratings),
            dynamic: Vec::new(),
        }
    }
}

/// How continuous arousal/valence values map to quadrants.
#[derive(Debug, Clone, Copy)]
pub struct AvMapping {
    /// Values above the midpoint are positive.
    pub midpoint: f64,
}

/// A music set as given on the command line: an annotation CSV (this project's layout,
/// 4Q-emotion's or CH-818's), or the folder of a public corpus as it is unpacked (DEAM,
/// PMEmo, emoMusic; see [`crate::corpus::public`]).
pub fn read_music(path: &Path, mapping: AvMapping) -> Result<Vec<Song>> {
    if path.is_dir() {
        crate::corpus::public::read(path, mapping)
    } else {
        read_music_csv(path, mapping)
    }
}

/// The midpoint of continuous ratings in a music set when none is given: the scale's own
/// midpoint for a public corpus's folder, 0 for a CSV (CH-818's scale).
pub fn default_midpoint(path: &Path) -> Result<f64> {
    if path.is_dir() {
        Ok(crate::corpus::public::Corpus::detect(path)?.midpoint())
    } else {
        Ok(0.0)
    }
}

/// Reads a music annotation CSV: the original columns `Songs` (path relative to the CSV's
/// folder), `Quads` (Q1..Q4) and optional `Arousal`/`Valence` (4Q-emotion's layout), or
/// `Songs` with continuous `Arousal` and `Valence` mapped to quadrants around a midpoint
/// (CH-818's layout). Optional `ArousalSource` / `ValenceSource` columns say who made each
/// label (`teacher...`: a model). Bad rows are reported with their row number and skipped.
pub fn read_music_csv(csv_path: &Path, mapping: AvMapping) -> Result<Vec<Song>> {
    let text = std::fs::read_to_string(csv_path)
        .with_context(|| format!("{}: cannot read", csv_path.display()))?;
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .with_context(|| format!("{}: no header row", csv_path.display()))?
        .clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let song_col = find(&["Songs", "Song", "file", "path"]).with_context(|| {
        format!(
            "{}: no `Songs` column (columns: {})",
            csv_path.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        )
    })?;
    let quad_col = find(&["Quads", "Quad", "Quadrant"]);
    let a_col = find(&["Arousal"]);
    let v_col = find(&["Valence"]);
    let sources = [find(&["ArousalSource"]), find(&["ValenceSource"])];
    let teacher_cols = [find(&["TeacherEnergy"]), find(&["TeacherValence"])];
    if quad_col.is_none() && (a_col.is_none() || v_col.is_none()) {
        bail!(
            "{}: needs a `Quads` column, or `Arousal` and `Valence` columns",
            csv_path.display()
        );
    }
    let mut songs = Vec::new();
    let mut bad = 0usize;
    for (i, record) in reader.records().enumerate() {
        let row = i + 2; // 1-based, after the header
        let parsed = record.map_err(|e| anyhow::anyhow!("{e}")).and_then(|r| {
            let mut song = parse_row(&r, base, song_col, quad_col, a_col, v_col, mapping)?;
            let by_people = |c: Option<usize>| {
                !c.and_then(|c| r.get(c))
                    .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("teacher"))
            };
            song.arousal_by_people = by_people(sources[0]);
            song.valence_by_people = by_people(sources[1]);
            let value = |c: Option<usize>| {
                c.and_then(|c| r.get(c))
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|x| x.is_finite())
            };
            song.teacher = value(teacher_cols[0])
                .zip(value(teacher_cols[1]))
                .map(|(e, v)| [e, v]);
            Ok(song)
        });
        match parsed {
            Ok(song) => songs.push(song),
            Err(e) => {
                bad += 1;
                eprintln!("warning: {} row {row}: {e:#}; skipped", csv_path.display());
            }
        }
    }
    if bad > 0 {
        eprintln!(
            "{}: {bad} bad rows skipped, {} songs kept",
            csv_path.display(),
            songs.len()
        );
    }
    if songs.is_empty() {
        bail!("{}: no usable rows", csv_path.display());
    }
    Ok(songs)
}

fn parse_sign(value: &str, mapping: AvMapping) -> Result<bool> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "positive" | "pos" | "high" | "+" | "true" => return Ok(true),
        "negative" | "neg" | "low" | "-" | "false" => return Ok(false),
        _ => {}
    }
    let x: f64 = v
        .parse()
        .map_err(|_| anyhow::anyhow!("unknown label {value:?}"))?;
    if !x.is_finite() {
        bail!("unknown label {value:?}");
    }
    Ok(x > mapping.midpoint)
}

fn parse_row(
    r: &csv::StringRecord,
    base: &Path,
    song_col: usize,
    quad_col: Option<usize>,
    a_col: Option<usize>,
    v_col: Option<usize>,
    mapping: AvMapping,
) -> Result<Song> {
    let name = r.get(song_col).unwrap_or("").to_string();
    if name.is_empty() {
        bail!("empty `Songs` value");
    }
    let rel = name.strip_prefix("./").unwrap_or(&name);
    let path = base.join(rel);
    if !path.is_file() {
        bail!("missing file {}", path.display());
    }
    let field = |c: Option<usize>| c.and_then(|c| r.get(c)).filter(|s| !s.is_empty());
    let (quadrant, arousal, valence) = match field(quad_col) {
        Some(q) => {
            let q: Quadrant = q.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            // Arousal/valence columns, when present, must agree with the quadrant.
            let a = match field(a_col) {
                Some(a) if quad_col.is_some() && a_col.is_some() => {
                    parse_sign(a, mapping).unwrap_or(q.arousal_positive())
                }
                _ => q.arousal_positive(),
            };
            let v = match field(v_col) {
                Some(v) => parse_sign(v, mapping).unwrap_or(q.valence_positive()),
                None => q.valence_positive(),
            };
            if a != q.arousal_positive() || v != q.valence_positive() {
                bail!("arousal/valence disagree with quadrant {q}");
            }
            (q, a, v)
        }
        None => {
            let (a, v) = (
                field(a_col).context("no arousal value")?,
                field(v_col).context("no valence value")?,
            );
            let number = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite());
            if let (Some(a), Some(v)) = (number(a), number(v)) {
                return Ok(Song::from_ratings(path, name, [a, v], mapping));
            }
            let (a, v) = (parse_sign(a, mapping)?, parse_sign(v, mapping)?);
            (Quadrant::from_signs(a, v), a, v)
        }
    };
    Ok(Song {
        path,
        name,
        quadrant,
        arousal,
        valence,
        arousal_by_people: true,
        valence_by_people: true,
        teacher: None,
        ratings: None,
        dynamic: Vec::new(),
    })
}

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

/// Song-level splits: indices into the song list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Splits {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Stratified by quadrant, by song: `test_frac` of each quadrant to test, then `val_frac`
/// of the rest to validation (the paper: 30 %, then 15 %). Seeded.
pub fn stratified_split(labels: &[Quadrant], test_frac: f64, val_frac: f64, seed: u64) -> Splits {
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, q) in labels.iter().enumerate() {
        by_class.entry(q.index()).or_default().push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = Splits {
        train: vec![],
        val: vec![],
        test: vec![],
    };
    for (_, mut idx) in by_class {
        idx.shuffle(&mut rng);
        let n = idx.len();
        // Each split gets at least one song of a class that has three or more.
        let n_test = ((n as f64 * test_frac).round() as usize).clamp(usize::from(n >= 3), n);
        let rest = n - n_test;
        let n_val = ((rest as f64 * val_frac).round() as usize).clamp(usize::from(rest >= 2), rest);
        s.test.extend_from_slice(&idx[..n_test]);
        s.val.extend_from_slice(&idx[n_test..n_test + n_val]);
        s.train.extend_from_slice(&idx[n_test + n_val..]);
    }
    s.train.sort_unstable();
    s.val.sort_unstable();
    s.test.sort_unstable();
    s
}

/// Stratified k-fold cross-validation by song: each quadrant's songs, shuffled, are dealt
/// in turn to `k` folds (so each fold holds 1/k of every quadrant, within one song); fold
/// i is the test part of split i, and `val_frac` of each quadrant of the rest is its
/// validation part. Seeded.
pub fn stratified_folds(labels: &[Quadrant], k: usize, val_frac: f64, seed: u64) -> Vec<Splits> {
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, q) in labels.iter().enumerate() {
        by_class.entry(q.index()).or_default().push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fold_of = vec![0usize; labels.len()];
    // The deal continues across classes, so small classes do not all start at fold 0.
    let mut next = 0usize;
    for idx in by_class.values_mut() {
        idx.shuffle(&mut rng);
        for &i in idx.iter() {
            fold_of[i] = next % k;
            next += 1;
        }
    }
    (0..k)
        .map(|f| {
            let mut s = Splits {
                train: vec![],
                val: vec![],
                test: vec![],
            };
            for idx in by_class.values() {
                let rest: Vec<usize> = idx.iter().copied().filter(|&i| fold_of[i] != f).collect();
                s.test
                    .extend(idx.iter().copied().filter(|&i| fold_of[i] == f));
                let n_val = ((rest.len() as f64 * val_frac).round() as usize)
                    .clamp(usize::from(rest.len() >= 2), rest.len());
                // `rest` is in the class's shuffled order: its first songs validate.
                s.val.extend_from_slice(&rest[..n_val]);
                s.train.extend_from_slice(&rest[n_val..]);
            }
            s.train.sort_unstable();
            s.val.sort_unstable();
            s.test.sort_unstable();
            s
        })
        .collect()
}

/// The split as written into a run folder: song names per part, so later steps (and people)
/// can reuse and read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitFile {
    pub seed: u64,
    pub csv: PathBuf,
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub test: Vec<String>,
}

impl SplitFile {
    pub fn new(songs: &[Song], s: &Splits, seed: u64, csv: &Path) -> Self {
        let names = |idx: &[usize]| idx.iter().map(|&i| songs[i].name.clone()).collect();
        Self {
            seed,
            csv: csv.to_path_buf(),
            train: names(&s.train),
            val: names(&s.val),
            test: names(&s.test),
        }
    }

    /// Indices of the songs in one part of the split.
    pub fn part(&self, songs: &[Song], part: &str) -> Result<Vec<usize>> {
        let names: &[String] = match part {
            "train" => &self.train,
            "val" => &self.val,
            "test" => &self.test,
            "all" => return Ok((0..songs.len()).collect()),
            other => bail!("unknown split {other:?} (train, val, test or all)"),
        };
        let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        Ok(songs
            .iter()
            .enumerate()
            .filter(|(_, s)| wanted.contains(s.name.as_str()))
            .map(|(i, _)| i)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_by_song_stratified_and_seeded() {
        let labels: Vec<Quadrant> = (0..100).map(|i| Quadrant::ALL[i % 4]).collect();
        let s = stratified_split(&labels, 0.3, 0.15, 7);
        assert_eq!(s, stratified_split(&labels, 0.3, 0.15, 7));
        assert_ne!(s, stratified_split(&labels, 0.3, 0.15, 8));
        let mut all: Vec<usize> = s
            .train
            .iter()
            .chain(&s.val)
            .chain(&s.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>(), "every song exactly once");
        for q in Quadrant::ALL {
            let count = |idx: &[usize]| idx.iter().filter(|&&i| labels[i] == q).count();
            assert_eq!(count(&s.test), 8, "30 % of 25, rounded");
            assert_eq!(count(&s.val), 3, "15 % of 17, rounded");
            assert_eq!(count(&s.train), 14);
        }
    }

    #[test]
    fn folds_cover_every_song_once_stratified_and_seeded() {
        let labels: Vec<Quadrant> = (0..103).map(|i| Quadrant::ALL[(i * 7) % 4]).collect();
        let folds = stratified_folds(&labels, 10, 0.15, 3);
        assert_eq!(folds, stratified_folds(&labels, 10, 0.15, 3));
        assert_ne!(folds, stratified_folds(&labels, 10, 0.15, 4));
        assert_eq!(folds.len(), 10);
        let mut tested: Vec<usize> = folds.iter().flat_map(|f| f.test.clone()).collect();
        tested.sort_unstable();
        assert_eq!(
            tested,
            (0..103).collect::<Vec<_>>(),
            "each song tested once"
        );
        for f in &folds {
            let mut all: Vec<usize> = f
                .train
                .iter()
                .chain(&f.val)
                .chain(&f.test)
                .copied()
                .collect();
            all.sort_unstable();
            assert_eq!(
                all,
                (0..103).collect::<Vec<_>>(),
                "each fold partitions the songs"
            );
            for q in Quadrant::ALL {
                let n = labels.iter().filter(|&&l| l == q).count();
                let in_test = f.test.iter().filter(|&&i| labels[i] == q).count();
                assert!(
                    in_test.abs_diff(n / 10) <= 1,
                    "{q}: {in_test} of {n} in one fold"
                );
                assert!(f.val.iter().any(|&i| labels[i] == q), "{q} validated");
            }
        }
    }

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

    #[test]
    fn speech_source_syntax() {
        let s: SpeechSource = "man=/data/aishell".parse().unwrap();
        assert_eq!(s.language, "man");
        assert_eq!(s.dir, PathBuf::from("/data/aishell"));
        let s: SpeechSource = "/data/librispeech".parse().unwrap();
        assert_eq!(s.language, "librispeech");
    }
}
